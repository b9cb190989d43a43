import Foundation

extension APIClient {
    /// The version of this SDK, sent in `X-Prefactor-SDK`.
    public static let sdkVersion = "0.1.0"

    /// How the client reaches the API.
    public struct Configuration: Sendable, CustomStringConvertible {
        /// The API origin, e.g. `https://app.prefactorai.com` or `http://127.0.0.1:4000`; a trailing `/` is ignored.
        public var apiURL: String
        /// The bearer token.
        public var apiToken: String
        /// The time limit of each attempt.
        public var requestTimeout: Duration
        /// The time limit for opening a connection.
        public var connectTimeout: Duration
        /// Retries of transient failures.
        public var retryPolicy: RetryPolicy
        /// Extra `name@version` entries placed before this SDK's own in `X-Prefactor-SDK` (adapters).
        public var sdkEntries: [String]
        /// The largest response body accepted.
        public var maxResponseBytes: Int

        /// Creates a configuration with the official SDKs' defaults (30 s per attempt, 10 s to connect, 3 retries).
        public init(
            apiURL: String, apiToken: String, requestTimeout: Duration = .seconds(30),
            connectTimeout: Duration = .seconds(10), retryPolicy: RetryPolicy = RetryPolicy(), sdkEntries: [String] = [],
            maxResponseBytes: Int = 64 << 20
        ) {
            self.apiURL = apiURL
            self.apiToken = apiToken
            self.requestTimeout = requestTimeout
            self.connectTimeout = connectTimeout
            self.retryPolicy = retryPolicy
            self.sdkEntries = sdkEntries
            self.maxResponseBytes = maxResponseBytes
        }

        /// The longest timeout or retry delay accepted: one day.
        public static let maximumTimeoutSeconds: Double = 86_400

        /// The `X-Prefactor-SDK` value: adapter entries, then `prefactor-swift@<version>`.
        public var sdkHeader: String {
            var entries: [String] = []
            for entry in sdkEntries.map({ $0.trimmingCharacters(in: .whitespaces) }) + ["prefactor-swift@\(APIClient.sdkVersion)"]
            where !entry.isEmpty && !entries.contains(entry) {
                entries.append(entry)
            }
            return entries.joined(separator: " ")
        }

        /// The origin without a trailing slash.
        var origin: String {
            var url = apiURL
            while url.hasSuffix("/") { url.removeLast() }
            return url
        }

        /// Checks the configuration as the official SDK does.
        ///
        /// - Throws: ``PrefactorHTTPError/Code/configuration`` naming the bad setting.
        public func validate() throws(PrefactorHTTPError) {
            func fail(_ message: String) -> PrefactorHTTPError {
                PrefactorHTTPError(code: .configuration, message: message)
            }
            guard !apiURL.isEmpty else { throw fail("The API URL is empty; set PREFACTOR_API_URL or pass --api-url") }
            if let problem = Self.problem(withAPIURL: apiURL) { throw fail("The API URL '\(apiURL)' \(problem)") }
            guard !apiToken.isEmpty else { throw fail("The API token is empty; set PREFACTOR_API_TOKEN or pass --token") }
            guard requestTimeout > .zero, connectTimeout > .zero else { throw fail("Timeouts must be greater than zero") }
            guard requestTimeout.seconds <= Self.maximumTimeoutSeconds, connectTimeout.seconds <= Self.maximumTimeoutSeconds
            else {
                throw fail("Timeouts must be at most \(Int(Self.maximumTimeoutSeconds)) seconds")
            }
            guard retryPolicy.maxDelay.seconds <= Self.maximumTimeoutSeconds else {
                throw fail("The maximum retry delay must be at most \(Int(Self.maximumTimeoutSeconds)) seconds")
            }
            guard retryPolicy.maxRetries >= 0 else { throw fail("maxRetries must be at least 0") }
            guard retryPolicy.initialDelay > .zero, retryPolicy.maxDelay > .zero else {
                throw fail("Retry delays must be greater than zero")
            }
            guard retryPolicy.initialDelay <= retryPolicy.maxDelay else {
                throw fail("The initial retry delay must not exceed the maximum delay")
            }
            guard retryPolicy.multiplier >= 1 else { throw fail("The retry multiplier must be at least 1") }
        }

        /// What is wrong with an API URL, or `nil` when it is a usable origin: `http` or `https`, a host, a port from
        /// 1 to 65535 when one is given, and nothing after the origin (the client adds `/api/v1/...` itself).
        ///
        /// - Parameter apiURL: The URL as given; trailing slashes are ignored.
        /// - Returns: The end of a sentence that starts with the URL, e.g. `has a port out of range (99999)`.
        public static func problem(withAPIURL apiURL: String) -> String? {
            var text = Substring(apiURL)
            while text.hasSuffix("/") { text.removeLast() }
            guard let separator = text.range(of: "://"),
                ["http", "https"].contains(text[..<separator.lowerBound].lowercased())
            else { return "is not an http:// or https:// URL" }
            let scheme = text[..<separator.lowerBound].lowercased()
            let rest = text[separator.upperBound...]
            // The port is read from the text: URL parsers give no port at all when it does not fit their type.
            let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
            let afterAuthority = rest.dropFirst(authority.count)
            if authority.contains("@") { return "must not contain a user name or password" }
            var host = authority
            if let colon = authority.lastIndex(of: ":"), !authority[colon...].contains("]") {
                host = authority[..<colon]
                let portText = authority[authority.index(after: colon)...]
                guard !portText.isEmpty, portText.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                    return "has an invalid port '\(portText)'"
                }
                guard portText.count <= 5, let port = Int(portText), (1...65535).contains(port) else {
                    return "has a port out of range (\(portText)); ports are 1 to 65535"
                }
            }
            guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "\\" }) else { return "has no valid host" }
            guard URL(string: String(text)) != nil else { return "is not a valid URL" }
            if afterAuthority.hasPrefix("/") {
                let path = afterAuthority.prefix { $0 != "?" && $0 != "#" }
                return
                    "has a path (\(path)); give only the origin, e.g. \(scheme)://\(authority) (the client adds /api/v1 itself)"
            }
            if afterAuthority.hasPrefix("?") { return "must not contain a query (?...)" }
            if afterAuthority.hasPrefix("#") { return "must not contain a fragment (#...)" }
            return nil
        }

        /// The configuration with the token hidden.
        public var description: String {
            "APIClient.Configuration(apiURL: \(apiURL), apiToken: <redacted>, requestTimeout: \(requestTimeout), "
                + "retries: \(retryPolicy.maxRetries))"
        }
    }
}
