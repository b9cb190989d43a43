import PrefactorWire

/// An error the server answers with the spec's error envelope (spec §5.1).
///
/// Each error carries an HTTP status, a machine-readable `code`, a message and, for validation failures,
/// field errors. The token is never included; a rejected field value may be quoted, cut to 40 characters.
public struct APIError: Error, Sendable, Hashable {
    /// The HTTP status.
    public var status: Int
    /// The machine-readable code, e.g. `not_found`.
    public var code: String
    /// A human-readable message.
    public var message: String
    /// Field errors: field name to messages.
    public var fieldErrors: [String: [String]]

    /// Creates an API error.
    public init(status: Int, code: String, message: String, fieldErrors: [String: [String]] = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.fieldErrors = fieldErrors
    }

    /// 404 `not_found`.
    public static func notFound(_ message: String) -> APIError {
        APIError(status: 404, code: "not_found", message: message)
    }

    /// 422 `validation_error` with field errors.
    public static func validation(_ fieldErrors: [String: [String]], message: String = "Validation failed") -> APIError {
        APIError(status: 422, code: "validation_error", message: message, fieldErrors: fieldErrors)
    }

    /// 422 `validation_error` for one field.
    public static func invalidField(_ field: String, _ problem: String) -> APIError {
        validation([field: [problem]], message: "Validation failed: \(field) \(problem)")
    }

    /// 409 `invalid_action`: a transition the state machine does not allow.
    public static func invalidAction(_ message: String) -> APIError {
        APIError(status: 409, code: "invalid_action", message: message)
    }

    /// 409 `conflict`: a resource with that identity already exists.
    public static func conflict(_ message: String) -> APIError {
        APIError(status: 409, code: "conflict", message: message)
    }

    /// 404 `not_found` for a path no route serves.
    public static func noRoute(method: String, path: String) -> APIError {
        notFound("No route for \(method) \(path)")
    }

    /// 405 `method_not_allowed` for a path served only for other methods.
    public static func methodNotAllowed(method: String, path: String) -> APIError {
        APIError(status: 405, code: "method_not_allowed", message: "\(method) is not allowed on \(path)")
    }

    /// 400 `bad_request`: a body that is not a JSON object.
    public static func badRequest(_ message: String) -> APIError {
        APIError(status: 400, code: "bad_request", message: message)
    }

    /// 401 `unauthorized`.
    public static let unauthorized = APIError(
        status: 401, code: "unauthorized", message: "Missing or invalid bearer token")

    /// 500 `internal_error`: a failure the server did not expect; the details are logged, never sent.
    /// A scripted fault's answer. The code is the one the status usually comes with (a bulk item's output carries
    /// the code, not the status).
    static func injected(status: Int) -> APIError {
        let codes = [
            401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict", 422: "validation_error",
            429: "too_many_requests", 500: "internal_error", 502: "bad_gateway", 503: "service_unavailable",
            504: "gateway_timeout",
        ]
        return APIError(
            status: status, code: codes[status] ?? "injected_fault",
            message: "Fault injected by the test server (HTTP \(status))")
    }

    public static let internalError = APIError(status: 500, code: "internal_error", message: "Internal server error")

    /// 413 `payload_too_large`.
    public static func payloadTooLarge(limit: Int) -> APIError {
        APIError(status: 413, code: "payload_too_large", message: "Request body exceeds the limit of \(limit) bytes")
    }

    /// The error envelope as JSON text.
    public var body: String {
        var object = JSONObjectText()
        object.string("status", "error")
        object.string("code", code)
        object.string("message", message)
        if !fieldErrors.isEmpty {
            var errors = JSONObjectText()
            for (field, messages) in fieldErrors.sorted(by: { $0.key < $1.key }) {
                errors.value(field, .array(messages.map { .string($0) }))
            }
            object.raw("errors", errors.result)
        }
        return object.result
    }
}
