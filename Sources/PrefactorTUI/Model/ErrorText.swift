import Foundation
import PrefactorCore
import PrefactorHTTP

/// Errors as the screen shows them: one line saying what happened and what to do. The full text goes to the log
/// (and stays in the detail pane for operations).
public enum ErrorText {
    /// One line for the message line.
    ///
    /// - Parameters:
    ///   - error: What failed.
    ///   - endpoint: The API's `host:port`, named in transport failures.
    public static func oneLine(_ error: any Error, endpoint: String? = nil) -> String {
        if let error = error as? PrefactorHTTPError { return error.summary(endpoint: endpoint) }
        if let error = error as? PrefactorError {
            if let underlying = error.underlying { return underlying.summary(endpoint: endpoint) }
            return error.message
        }
        return "\(error)"
    }

    /// The full detail, for the log.
    public static func detail(_ error: any Error) -> String {
        if let error = error as? PrefactorHTTPError { return error.description }
        if let error = error as? PrefactorError { return error.description }
        return String(reflecting: error)
    }

    /// A delivery failure's reason (the core client's text of the error) made short: the HTTP status and the
    /// server's code and message, or what happened to the connection, without type names.
    ///
    /// For example `PrefactorHTTPError.api (agent_spans.create) HTTP 503 [injected_fault]: Injected fault` becomes
    /// `HTTP 503 injected_fault: Injected fault`.
    public static func brief(_ reason: String) -> String {
        let lowered = reason.lowercased()
        if lowered.contains("connection refused") || lowered.contains("errno: 111") { return "connection refused" }
        guard reason.hasPrefix("PrefactorHTTPError.") else { return reason }
        var text = Substring(reason)
        // The code and the operation are dropped; the status, the server's code and the message stay.
        if let status = text.range(of: "HTTP ") {
            text = text[status.lowerBound...]
        } else if let colon = text.range(of: ": ") {
            text = text[colon.upperBound...]
        }
        var result = String(text)
        if let open = result.firstIndex(of: "["), let close = result[open...].firstIndex(of: "]") {
            result.replaceSubrange(open...close, with: result[result.index(after: open)..<close])
        }
        if let last = result.range(of: "; last error: ") { result = String(result[..<last.lowerBound]) }
        return result
    }
}
