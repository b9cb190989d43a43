import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// The production ``HTTPTransport``, on AsyncHTTPClient.
public final class AsyncHTTPClientTransport: HTTPTransport {
    private let client: HTTPClient
    private let maxResponseBytes: Int

    /// Creates a transport with its own HTTP client.
    ///
    /// - Parameters:
    ///   - connectTimeout: The time limit for opening a connection.
    ///   - maxResponseBytes: The largest response body accepted.
    public init(connectTimeout: Duration = .seconds(10), maxResponseBytes: Int = 64 << 20) {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: Self.timeAmount(connectTimeout))
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 16)
        configuration.decompression = .disabled
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.maxResponseBytes = maxResponseBytes
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let parts = duration.components
        return .nanoseconds(parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000)
    }

    /// Sends one request.
    public func send(_ request: HTTPRequestSpec, timeout: Duration) async throws(PrefactorHTTPError) -> HTTPResponseData {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
        if let body = request.body { outgoing.body = .bytes(ByteBuffer(bytes: body)) }
        do {
            let response = try await client.execute(outgoing, timeout: Self.timeAmount(timeout))
            let buffer = try await response.body.collect(upTo: maxResponseBytes)
            return HTTPResponseData(status: Int(response.status.code), body: Array(buffer.readableBytesView))
        } catch let error as HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout:
                throw PrefactorHTTPError(code: .timeout, message: "No response within \(timeout) (\(error.shortDescription))")
            default:
                throw PrefactorHTTPError(code: .transport, message: "HTTP transport failed: \(error.shortDescription)")
            }
        } catch is NIOTooManyBytesError {
            throw PrefactorHTTPError(
                code: .responseContract, message: "Response body larger than \(maxResponseBytes) bytes")
        } catch {
            throw PrefactorHTTPError(code: .transport, message: "Could not reach the API: \(Self.describe(error))")
        }
    }

    private static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        return text.count > 300 ? String(text.prefix(300)) + "…" : text
    }

    /// Shuts the HTTP client down.
    public func shutdown() async throws {
        try await client.shutdown()
    }
}
