import Foundation

extension PrefactorHTTPError {
    /// The error in one line for people: what happened and what to do, without the type name or the raw layers of
    /// the transport's message (``description`` keeps the full detail for logs).
    ///
    /// - Parameter endpoint: The API's address (`host:port`), named in transport failures.
    /// - Returns: For example `connection refused at 127.0.0.1:1 - is the API running?`.
    public func summary(endpoint: String? = nil) -> String {
        let at = endpoint.map { " at \($0)" } ?? ""
        let status = self.status.map { "HTTP \($0)" + (serverCode.map { " \($0)" } ?? "") } ?? ""
        switch code {
        case .transport:
            let lowered = message.lowercased()
            if lowered.contains("refused") || lowered.contains("errno: 111") {
                return "connection refused\(at) - is the API running?"
            }
            if lowered.contains("reset") { return "connection reset\(at) - the API closed it; retrying may help" }
            if lowered.contains("host") || lowered.contains("resolve") || lowered.contains("dns") {
                return "the API host\(at) could not be found - check the URL"
            }
            return "could not reach the API\(at) - check the URL and that the API is running"
        case .timeout:
            return "no answer from the API\(at) in time - it may be overloaded or unreachable"
        case .auth:
            return "the API rejected the token (\(status)) - check --token or PREFACTOR_API_TOKEN"
        case .notFound:
            return "not found (\(status))" + (operation.map { " for \($0)" } ?? "") + ": \(message)"
        case .validation:
            return "the API rejected the request (\(status)): \(message)"
        case .conflict:
            return "the API refused the change (\(status)): \(message)"
        case .responseContract:
            return "the answer\(at) is not a Prefactor API response" + (self.status.map { " (HTTP \($0))" } ?? "")
                + " - check the URL"
        case .retriesExhausted:
            let last = lastError?.summary(endpoint: endpoint) ?? message
            return last + " (gave up after \(attempts) attempts)"
        case .invalidRequest, .configuration:
            return message
        default:
            if let code = self.status, code >= 500 || code == 429 {
                return "the API is failing (\(status))" + (operation.map { " on \($0)" } ?? "") + "; retrying"
            }
            return "the API answered \(status.isEmpty ? "with an error" : status): \(message)"
        }
    }
}
