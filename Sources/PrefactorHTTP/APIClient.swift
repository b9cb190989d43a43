import Foundation
import Logging
import PrefactorWire

/// Decides, for a caller with retry rules of its own, whether and when a failed attempt is made again.
package protocol RetryController: Sendable {
    /// How long to wait before the next attempt after `failure`, or `nil` to give up (the failure is thrown).
    func retryDelay(after failure: PrefactorHTTPError) async -> Duration?
    /// Waits before the next attempt; `false` to give up instead (the last failure is thrown).
    func wait(_ delay: Duration) async -> Bool
}

/// A controller that never retries: every call is one attempt.
package struct NoRetries: RetryController {
    package init() {}
    package func retryDelay(after failure: PrefactorHTTPError) async -> Duration? { nil }
    package func wait(_ delay: Duration) async -> Bool { false }
}

/// The Prefactor API client: one typed call per endpoint, the official SDKs' wire format, retries with backoff.
///
/// ```swift
/// let client = try APIClient(configuration: .init(apiURL: "http://127.0.0.1:4000", apiToken: token))
/// defer { Task { try await client.shutdown() } }
/// let instance = try await client.registerAgentInstance(.init(agentVersion: ["name": "my-agent"]))
/// ```
///
/// Every call retries transient failures (network errors, timeouts, 429, 5xx) with exponential backoff and jitter
/// and resends the identical body, so an idempotency key stays the same on every attempt. Other failures throw at
/// once. Call ``shutdown()`` when done.
public final class APIClient: Sendable {
    /// The configuration.
    public let configuration: Configuration
    let transport: any HTTPTransport
    let logger: Logger
    let sleep: @Sendable (Duration) async throws -> Void
    let random: @Sendable () -> Double
    /// The configuration's origin, worked out once.
    let origin: String
    /// The header fields of every request, worked out once.
    let headers: [(String, String)]

    /// Creates a client.
    ///
    /// - Parameters:
    ///   - configuration: Where the API is and how to call it.
    ///   - transport: The HTTP transport; by default a new ``AsyncHTTPClientTransport``.
    ///   - logger: Where to log attempts (debug level); silent by default.
    /// - Throws: ``PrefactorHTTPError/Code/configuration`` when the configuration is invalid.
    public convenience init(
        configuration: Configuration, transport: (any HTTPTransport)? = nil,
        logger: Logger = Logger(label: "prefactor.http", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws(PrefactorHTTPError) {
        try self.init(
            configuration: configuration, transport: transport, logger: logger,
            sleep: { try await Task.sleep(for: $0) }, random: { Double.random(in: 0..<1) })
    }

    /// Creates a client with an injected sleep and random source, for tests of the retry loop.
    public init(
        configuration: Configuration, transport: (any HTTPTransport)?, logger: Logger,
        sleep: @escaping @Sendable (Duration) async throws -> Void, random: @escaping @Sendable () -> Double
    ) throws(PrefactorHTTPError) {
        try configuration.validate()
        self.configuration = configuration
        self.transport =
            transport
            ?? AsyncHTTPClientTransport(for: configuration)
        self.logger = logger
        self.sleep = sleep
        self.random = random
        self.origin = configuration.origin
        self.headers = [
            ("Authorization", "Bearer \(configuration.apiToken)"),
            ("X-Prefactor-SDK", configuration.sdkHeader),
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ]
    }

    /// When set for a task, the calls it makes retry as this controller decides instead of by the configured policy:
    /// the one retry loop below then serves a caller whose retry rules live elsewhere (the core client's queue, whose
    /// state machine decides each operation's backoff, limit, pause and early retry).
    @TaskLocal package static var retryController: (any RetryController)?

    /// Shuts the transport down. With the default transport (on the shared HTTP client) this releases nothing and
    /// the client stays usable; call it anyway when done, for transports that own resources.
    public func shutdown() async throws {
        try await transport.shutdown()
    }

    // MARK: Sending

    static func checkKey(_ key: String?, operation: String) throws(PrefactorHTTPError) {
        guard let key, let problem = IdempotencyKey.problem(with: key) else { return }
        throw PrefactorHTTPError(code: .invalidRequest, message: problem, operation: operation)
    }

    func encode(_ body: some WireRequest, operation: String) -> [UInt8] {
        body.jsonBytes
    }

    /// Sends a request with retries and returns the JSON object of a successful response.
    func send(
        _ method: String, _ path: String, query: [(String, String)] = [], body: [UInt8]?, operation: String
    ) async throws(PrefactorHTTPError) -> [String: JSONValue] {
        var url = origin + path
        if !query.isEmpty {
            url += "?" + query.map { Self.percentEncode($0.0) + "=" + Self.percentEncode($0.1) }.joined(separator: "&")
        }
        let request = HTTPRequestSpec(method: method, url: url, headers: headers, body: body)
        let policy = configuration.retryPolicy
        var attempt = 0
        while true {
            let error: PrefactorHTTPError
            do {
                let response = try await transport.send(request, timeout: configuration.requestTimeout)
                return try Self.interpret(response, operation: operation)
            } catch let failure {
                error = failure
            }
            var failure = error
            failure.operation = operation
            failure.attempts = attempt + 1
            if let controller = Self.retryController {
                guard let delay = await controller.retryDelay(after: failure), await controller.wait(delay) else { throw failure }
                attempt += 1
                continue
            }
            guard attempt < policy.maxRetries, policy.shouldRetry(failure) else {
                if attempt > 0 && policy.shouldRetry(failure) {
                    throw PrefactorHTTPError(
                        code: .retriesExhausted, message: "Gave up after \(attempt + 1) attempts", status: failure.status,
                        operation: operation, attempts: attempt + 1, lastError: failure)
                }
                throw failure
            }
            let delay = policy.delay(beforeRetry: attempt, unit: random())
            logger.debug(
                "Retrying after a transient failure",
                metadata: [
                    "prefactor.operation": "\(operation)", "prefactor.attempt": "\(attempt + 1)",
                    "prefactor.delay": "\(delay)", "prefactor.error": "\(failure.shortDescription)",
                ])
            do {
                try await sleep(delay)
            } catch {
                throw PrefactorHTTPError(
                    code: .transport, message: "Cancelled while waiting to retry", operation: operation,
                    attempts: attempt + 1, lastError: failure)
            }
            attempt += 1
        }
    }

    static func interpret(_ response: HTTPResponseData, operation: String) throws(PrefactorHTTPError) -> [String: JSONValue] {
        if response.status >= 400 {
            throw PrefactorHTTPError.fromStatus(response.status, body: response.body, operation: operation)
        }
        guard let value = try? JSONParser.parse(response.body), let object = value.objectValue else {
            throw PrefactorHTTPError(
                code: .responseContract,
                message: "Expected a JSON object, got: \(PrefactorHTTPError.snippet(response.body))",
                status: response.status, operation: operation)
        }
        return object
    }

    /// Decodes a model out of a response object.
    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue?, operation: String) throws(PrefactorHTTPError) -> T {
        do {
            guard let value else { throw DecodingError.valueNotFound(T.self, .init(codingPath: [], debugDescription: "missing")) }
            return try JSONValueDecoder().decode(T.self, from: value)
        } catch {
            throw PrefactorHTTPError(
                code: .responseContract, message: "Invalid response payload for \(operation): \(Self.summarize(error))",
                status: 200, operation: operation)
        }
    }

    static func summarize(_ error: any Error) -> String {
        guard let decoding = error as? DecodingError else { return "\(error)" }
        switch decoding {
        case .keyNotFound(let key, let context):
            return "missing \((context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: "."))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return "\(path.isEmpty ? "body" : path): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    /// What `percentEncode(_:)` leaves as it is: ASCII letters and digits and `-._~` (RFC 3986's unreserved set).
    static let unreserved: CharacterSet = {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return allowed
    }()

    static func percentEncode(_ text: String) -> String {
        // Ids, keys and timestamps rarely need escaping: then the text is its own encoding.
        if text.utf8.allSatisfy(isUnreservedASCII) { return text }
        return text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    private static func isUnreservedASCII(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    static func pathComponent(_ id: String) -> String {
        percentEncode(id)
    }
}
