import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// The production ``HTTPTransport``, on AsyncHTTPClient.
///
/// By default it uses one process-wide HTTP client (10 s connect timeout, no silent reconnect attempts), which
/// needs no shutdown. Pass `ownedConnectTimeout` for a private client with its own connect timeout, which
/// ``shutdown()`` then closes.
public final class AsyncHTTPClientTransport: HTTPTransport {
    private let client: HTTPClient
    private let ownsClient: Bool
    private let maxResponseBytes: Int

    /// Creates a transport.
    ///
    /// - Parameters:
    ///   - ownedConnectTimeout: When set, a private HTTP client with this connect timeout instead of the shared one.
    ///   - maxResponseBytes: The largest response body accepted.
    public init(ownedConnectTimeout: Duration? = nil, maxResponseBytes: Int = 64 << 20) {
        if let ownedConnectTimeout {
            var configuration = HTTPClient.Configuration()
            configuration.timeout = .init(connect: Self.timeAmount(ownedConnectTimeout))
            configuration.decompression = .disabled
            configuration.connectionPool.retryConnectionEstablishment = false
            configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 32
            configuration.tracing.tracer = nil
            self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            self.ownsClient = true
        } else {
            self.client = Self.sharedClient
            self.ownsClient = false
        }
        self.maxResponseBytes = maxResponseBytes
    }

    /// The process-wide client of the default transport: AsyncHTTPClient's defaults, except that a refused connection
    /// fails the attempt at once instead of being retried until the request deadline, and no tracing span is made
    /// per request (a span per request costs CPU even with the no-op tracer). Never shut down.
    static let sharedClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.decompression = .disabled
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 32
        configuration.timeout = .init(connect: .seconds(10))
        configuration.tracing.tracer = nil
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// The transport a configuration asks for: the shared client with AsyncHTTPClient's 10 s connect timeout, or a
    /// private client when another connect timeout is configured.
    public convenience init(for configuration: APIClient.Configuration) {
        let ownTimeout: Duration? = configuration.connectTimeout == .seconds(10) ? nil : configuration.connectTimeout
        self.init(ownedConnectTimeout: ownTimeout, maxResponseBytes: configuration.maxResponseBytes)
    }

    /// The duration as a NIO time amount, capped at one day (longer deadlines overflow NIO's clock arithmetic).
    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let capped = min(max(duration, .zero), .seconds(86_400))
        let parts = capped.components
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

    /// Shuts a private HTTP client down; the shared one is left running.
    public func shutdown() async throws {
        if ownsClient { try await client.shutdown() }
    }
}
