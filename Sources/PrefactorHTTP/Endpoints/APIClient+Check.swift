import Foundation

/// What a check of the API found (`GET /api/v1/ping`): whether it answers, as a Prefactor API, accepting the token.
public enum APICheckResult: Sendable, Hashable {
    /// The API answered and accepted the token.
    case ok
    /// The API answered but rejected the token.
    case authFailed(String)
    /// Nothing answered (connection refused, DNS, timeout).
    case unreachable(String)
    /// Something answered, but not as a Prefactor API (no ping route, or not the API's JSON).
    case notPrefactorAPI(String)
    /// The API answered with an error (5xx, 429...).
    case failing(String)

    /// The result of a ping that failed with `error`.
    ///
    /// - Parameters:
    ///   - error: The ping's failure.
    ///   - endpoint: The API's `host:port`, named in the explanation.
    public init(error: PrefactorHTTPError, endpoint: String?) {
        let error = error.code == .retriesExhausted ? (error.lastError ?? error) : error
        let text = error.summary(endpoint: endpoint)
        switch error.code {
        case .auth: self = .authFailed(text)
        case .transport, .timeout: self = .unreachable(text)
        case .notFound, .responseContract:
            self = .notPrefactorAPI("no Prefactor API\(endpoint.map { " at \($0)" } ?? "") (\(text))")
        default: self = .failing(text)
        }
    }

    /// The explanation of a failure; `nil` when the check passed.
    public var explanation: String? {
        switch self {
        case .ok: return nil
        case .authFailed(let text), .unreachable(let text), .notPrefactorAPI(let text), .failing(let text): return text
        }
    }
}

extension APIClient {
    /// Checks the API once, as `prefactor ping` does: `GET /api/v1/ping`.
    ///
    /// - Returns: What the check found; never throws.
    public func check() async -> APICheckResult {
        do {
            _ = try await ping()
            return .ok
        } catch {
            return APICheckResult(error: error, endpoint: configuration.endpoint)
        }
    }
}

extension APIClient.Configuration {
    /// The API's `host:port` (or host alone), for messages.
    public var endpoint: String {
        var text = Substring(apiURL)
        if let separator = text.range(of: "://") { text = text[separator.upperBound...] }
        return String(text.prefix { $0 != "/" && $0 != "?" && $0 != "#" })
    }
}
