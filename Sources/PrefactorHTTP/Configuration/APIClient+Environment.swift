import Foundation

extension APIClient.Configuration {
    /// The environment variables the client reads (spec §9).
    public enum EnvironmentKey {
        /// The API origin.
        public static let apiURL = "PREFACTOR_API_URL"
        /// The bearer token.
        public static let apiToken = "PREFACTOR_API_TOKEN"
        /// Comma-separated HTTP statuses to retry (invalid entries are ignored).
        public static let retryOnStatusCodes = "PREFACTOR_RETRY_ON_STATUS_CODES"
        /// The per-attempt timeout in seconds.
        public static let requestTimeout = "PREFACTOR_REQUEST_TIMEOUT"
        /// The number of retries after the first attempt.
        public static let maxRetries = "PREFACTOR_MAX_RETRIES"
    }

    /// Reads the configuration from environment variables, with explicit values taking precedence.
    ///
    /// - Parameters:
    ///   - environment: The variables, by default the process's.
    ///   - apiURL: An explicit URL that wins over `PREFACTOR_API_URL`.
    ///   - apiToken: An explicit token that wins over `PREFACTOR_API_TOKEN`.
    /// - Returns: The validated configuration.
    /// - Throws: ``PrefactorHTTPError/Code/configuration`` when a value is missing or invalid.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment, apiURL: String? = nil,
        apiToken: String? = nil
    ) throws(PrefactorHTTPError) -> APIClient.Configuration {
        var configuration = APIClient.Configuration(
            apiURL: apiURL ?? environment[EnvironmentKey.apiURL] ?? "",
            apiToken: apiToken ?? environment[EnvironmentKey.apiToken] ?? "")
        if let codes = environment[EnvironmentKey.retryOnStatusCodes] {
            let parsed = codes.split(separator: ",").compactMap { entry -> Int? in
                let text = entry.trimmingCharacters(in: .whitespaces)
                guard text.count == 3, let code = Int(text), (100...599).contains(code) else { return nil }
                return code
            }
            // Like the official TypeScript SDK: when no valid code remains, the defaults stay.
            if !parsed.isEmpty { configuration.retryPolicy.retryableStatuses = Set(parsed) }
        }
        if let text = environment[EnvironmentKey.requestTimeout] {
            guard let seconds = Double(text), seconds.isFinite, seconds > 0,
                seconds <= APIClient.Configuration.maximumTimeoutSeconds
            else {
                throw PrefactorHTTPError(
                    code: .configuration,
                    message:
                        "\(EnvironmentKey.requestTimeout) must be a number of seconds from 0 to \(Int(APIClient.Configuration.maximumTimeoutSeconds))"
                )
            }
            configuration.requestTimeout = .milliseconds(Int64(seconds * 1000))
        }
        if let text = environment[EnvironmentKey.maxRetries] {
            guard let retries = Int(text), retries >= 0 else {
                throw PrefactorHTTPError(code: .configuration, message: "\(EnvironmentKey.maxRetries) must be an integer >= 0")
            }
            configuration.retryPolicy.maxRetries = retries
        }
        try configuration.validate()
        return configuration
    }
}
