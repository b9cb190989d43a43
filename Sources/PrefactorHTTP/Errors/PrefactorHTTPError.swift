import Foundation
import PrefactorWire

/// Every failure of the API client: one type with a ``Code``, the HTTP status and the server's code and message
/// where there were any, and the transient/permanent split of spec §5.3.
///
/// Errors never contain the API token or request bodies.
public struct PrefactorHTTPError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case auth, notFound, validation, conflict, api, responseContract, transport, timeout, retriesExhausted
            case invalidRequest, configuration
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// 401 or 403: the token is missing, wrong or expired.
        public static let auth = Code(.auth)
        /// 404: the resource does not exist.
        public static let notFound = Code(.notFound)
        /// 400 or 422: the request was rejected; see ``PrefactorHTTPError/fieldErrors``.
        public static let validation = Code(.validation)
        /// 409: the action conflicts with the resource's state (e.g. finishing twice).
        public static let conflict = Code(.conflict)
        /// Any other HTTP error status.
        public static let api = Code(.api)
        /// The response was not the JSON the contract promises.
        public static let responseContract = Code(.responseContract)
        /// The request could not be delivered (connection refused, reset, DNS...).
        public static let transport = Code(.transport)
        /// An attempt took longer than the request timeout.
        public static let timeout = Code(.timeout)
        /// Every attempt failed with a retryable error; see ``PrefactorHTTPError/lastError``.
        public static let retriesExhausted = Code(.retriesExhausted)
        /// The call was rejected before sending (e.g. an idempotency key over 64 characters).
        public static let invalidRequest = Code(.invalidRequest)
        /// The client configuration is invalid.
        public static let configuration = Code(.configuration)

        /// The code's name, e.g. `notFound`.
        public var description: String { base.rawValue }
    }

    private final class Box: Sendable {
        let error: PrefactorHTTPError
        init(_ error: PrefactorHTTPError) { self.error = error }
    }

    /// The kind of failure.
    public var code: Code
    /// A message for people.
    public var message: String
    /// The HTTP status, when a response was received.
    public var status: Int?
    /// The server's error code (e.g. `invalid_action`), when the body carried one.
    public var serverCode: String?
    /// Field errors of a validation failure: field name to messages (or nested errors).
    public var fieldErrors: [String: JSONValue]
    /// The operation that failed, e.g. `agent_spans.finish`.
    public var operation: String?
    /// How many attempts were made.
    public var attempts: Int
    private var box: Box?

    /// Creates an error.
    public init(
        code: Code, message: String, status: Int? = nil, serverCode: String? = nil, fieldErrors: [String: JSONValue] = [:],
        operation: String? = nil, attempts: Int = 1, lastError: PrefactorHTTPError? = nil
    ) {
        self.code = code
        self.message = message
        self.status = status
        self.serverCode = serverCode
        self.fieldErrors = fieldErrors
        self.operation = operation
        self.attempts = attempts
        self.box = lastError.map(Box.init)
    }

    /// For ``Code/retriesExhausted``: the error of the last attempt.
    public var lastError: PrefactorHTTPError? { box?.error }

    /// Whether retrying later may succeed (spec §5.3): network failures, timeouts, 429 and 5xx.
    public var isTransient: Bool {
        switch code {
        case .transport, .timeout: return true
        case .retriesExhausted: return lastError?.isTransient ?? false
        case .invalidRequest, .configuration: return false
        default:
            guard let status else { return false }
            return status == 429 || status >= 500
        }
    }

    /// Whether retrying cannot help.
    public var isPermanent: Bool { !isTransient }

    /// The error as one line: code, operation, status and messages.
    public var description: String {
        var parts = ["PrefactorHTTPError.\(code)"]
        if let operation { parts.append("(\(operation))") }
        if let status { parts.append("HTTP \(status)") }
        if let serverCode { parts.append("[\(serverCode)]") }
        var text = parts.joined(separator: " ") + ": " + message
        if !fieldErrors.isEmpty {
            text += " " + JSONValue.object(fieldErrors).description
        }
        if let lastError { text += "; last error: \(lastError.description)" }
        return text
    }

    /// A description without values, for metrics labels.
    public var shortDescription: String { "PrefactorHTTPError.\(code)" }

    /// The error for an HTTP error status.
    static func fromStatus(_ status: Int, body: [UInt8], operation: String) -> PrefactorHTTPError {
        let envelope = (try? JSONParser.parse(body))?.objectValue
        let serverCode = envelope?["code"]?.stringValue ?? "unknown"
        let serverMessage = envelope?["message"]?.stringValue ?? "HTTP \(status)"
        let fieldErrors = envelope?["errors"]?.objectValue ?? [:]
        let code: Code
        switch status {
        case 401, 403: code = .auth
        case 404: code = .notFound
        case 400, 422: code = .validation
        case 409: code = .conflict
        default: code = .api
        }
        if envelope == nil {
            return PrefactorHTTPError(
                code: .responseContract, message: "Non-JSON error response: \(snippet(body))", status: status,
                operation: operation)
        }
        return PrefactorHTTPError(
            code: code, message: serverMessage, status: status, serverCode: serverCode, fieldErrors: fieldErrors,
            operation: operation)
    }

    static func snippet(_ body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(200), as: UTF8.self)
        return text.isEmpty ? "<empty body>" : text
    }
}
