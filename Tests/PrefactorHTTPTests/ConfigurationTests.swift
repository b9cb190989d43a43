import Foundation
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// Configuration validation and the environment (spec §9).
struct ConfigurationTests {
    typealias Configuration = APIClient.Configuration

    static func valid() -> Configuration {
        Configuration(apiURL: "https://app.prefactorai.com", apiToken: "token")
    }

    @Test func defaultsAreTheOfficialSDKs() throws {
        let configuration = Self.valid()
        #expect(configuration.requestTimeout == .seconds(30))
        #expect(configuration.connectTimeout == .seconds(10))
        #expect(configuration.retryPolicy == RetryPolicy())
        #expect(configuration.sdkEntries.isEmpty)
        try configuration.validate()
    }

    @Test(arguments: [
        "http://127.0.0.1:4000", "https://app.prefactorai.com", "https://app.prefactorai.com/", "HTTP://localhost:1",
    ])
    func validURLsPass(url: String) throws {
        try Configuration(apiURL: url, apiToken: "t").validate()
    }

    struct Invalid: Sendable, CustomTestStringConvertible {
        var name: String
        var change: @Sendable (inout Configuration) -> Void
        var testDescription: String { name }
    }

    @Test(arguments: [
        Invalid(name: "empty URL") { $0.apiURL = "" },
        Invalid(name: "no scheme") { $0.apiURL = "app.prefactorai.com" },
        Invalid(name: "ftp scheme") { $0.apiURL = "ftp://app.prefactorai.com" },
        Invalid(name: "no host") { $0.apiURL = "http://" },
        Invalid(name: "not a URL") { $0.apiURL = "not a url" },
        Invalid(name: "empty token") { $0.apiToken = "" },
        Invalid(name: "zero request timeout") { $0.requestTimeout = .zero },
        Invalid(name: "negative request timeout") { $0.requestTimeout = .seconds(-1) },
        Invalid(name: "zero connect timeout") { $0.connectTimeout = .zero },
        Invalid(name: "negative retries") { $0.retryPolicy.maxRetries = -1 },
        Invalid(name: "zero initial delay") { $0.retryPolicy.initialDelay = .zero },
        Invalid(name: "zero max delay") { $0.retryPolicy.maxDelay = .zero },
        Invalid(name: "initial above max") {
            $0.retryPolicy.initialDelay = .seconds(10)
            $0.retryPolicy.maxDelay = .seconds(5)
        },
        Invalid(name: "multiplier below one") { $0.retryPolicy.multiplier = 0.5 },
    ])
    func invalidConfigurationsAreRejected(_ invalid: Invalid) throws {
        var configuration = Self.valid()
        invalid.change(&configuration)
        let error = #expect(throws: PrefactorHTTPError.self) { try configuration.validate() }
        #expect(error?.code == .configuration)
        let clientError = #expect(throws: PrefactorHTTPError.self) { try APIClient(configuration: configuration) }
        #expect(clientError?.code == .configuration)
    }

    @Test func boundaryValuesAreAccepted() throws {
        var configuration = Self.valid()
        configuration.retryPolicy = RetryPolicy(maxRetries: 0, initialDelay: .seconds(2), maxDelay: .seconds(2), multiplier: 1)
        try configuration.validate()
    }

    // MARK: Environment

    @Test func readsURLAndTokenFromTheEnvironment() throws {
        let configuration = try Configuration.fromEnvironment([
            "PREFACTOR_API_URL": "http://127.0.0.1:4000", "PREFACTOR_API_TOKEN": "env-token",
        ])
        #expect(configuration.apiURL == "http://127.0.0.1:4000")
        #expect(configuration.apiToken == "env-token")
        #expect(configuration.retryPolicy == RetryPolicy())
        #expect(configuration.requestTimeout == .seconds(30))
    }

    @Test func explicitValuesWinOverTheEnvironment() throws {
        let configuration = try Configuration.fromEnvironment(
            ["PREFACTOR_API_URL": "http://env:1", "PREFACTOR_API_TOKEN": "env-token"], apiURL: "http://explicit:2",
            apiToken: "explicit-token")
        #expect(configuration.apiURL == "http://explicit:2")
        #expect(configuration.apiToken == "explicit-token")
        let partial = try Configuration.fromEnvironment(
            ["PREFACTOR_API_URL": "http://env:1", "PREFACTOR_API_TOKEN": "env-token"], apiToken: "explicit-token")
        #expect(partial.apiURL == "http://env:1")
        #expect(partial.apiToken == "explicit-token")
        let withoutEnvironment = try Configuration.fromEnvironment([:], apiURL: "http://explicit:2", apiToken: "t")
        #expect(withoutEnvironment.apiURL == "http://explicit:2")
    }

    @Test(arguments: [
        [String: String](), ["PREFACTOR_API_URL": "http://h:1"], ["PREFACTOR_API_TOKEN": "t"],
        ["PREFACTOR_API_URL": "", "PREFACTOR_API_TOKEN": "t"], ["PREFACTOR_API_URL": "http://h:1", "PREFACTOR_API_TOKEN": ""],
    ])
    func missingURLOrTokenIsAConfigurationError(environment: [String: String]) {
        let error = #expect(throws: PrefactorHTTPError.self) { try Configuration.fromEnvironment(environment) }
        #expect(error?.code == .configuration)
    }

    static let base = ["PREFACTOR_API_URL": "http://h:1", "PREFACTOR_API_TOKEN": "t"]

    @Test(
        arguments: [
            ("429,503", Set([429, 503])),
            (" 429 , 503 ,502", [429, 502, 503]),
            ("429,abc,503", [429, 503]),
            ("429,1000,99,600,50,5033,-429,+42", [429]),
            ("429,,503,", [429, 503]),
            ("100,599", [100, 599]),
            ("418", [418]),
        ] as [(String, Set<Int>)])
    func retryStatusCodesDropInvalidEntries(text: String, expected: Set<Int>) throws {
        var environment = Self.base
        environment["PREFACTOR_RETRY_ON_STATUS_CODES"] = text
        let configuration = try Configuration.fromEnvironment(environment)
        #expect(configuration.retryPolicy.retryableStatuses == expected)
    }

    @Test(arguments: ["", "abc", "abc,1000,42", " , "])
    func retryStatusCodesWithNoValidEntryKeepTheDefaults(text: String) throws {
        // The TypeScript SDK (which reads this variable; spec §9) drops invalid entries and, when none remain,
        // keeps its default list (429 and 500–599) rather than retrying nothing.
        var environment = Self.base
        environment["PREFACTOR_RETRY_ON_STATUS_CODES"] = text
        let configuration = try Configuration.fromEnvironment(environment)
        #expect(configuration.retryPolicy.retryableStatuses == RetryPolicy.defaultRetryableStatuses)
    }

    @Test(arguments: [
        ("2.5", Duration.milliseconds(2500)), ("30", .seconds(30)), ("0.1", .milliseconds(100)), ("120", .seconds(120)),
    ])
    func requestTimeoutIsReadInSeconds(text: String, expected: Duration) throws {
        var environment = Self.base
        environment["PREFACTOR_REQUEST_TIMEOUT"] = text
        #expect(try Configuration.fromEnvironment(environment).requestTimeout == expected)
    }

    @Test(arguments: ["0", "-1", "abc", "", "0.0000001"])
    func invalidRequestTimeoutIsRejected(text: String) {
        var environment = Self.base
        environment["PREFACTOR_REQUEST_TIMEOUT"] = text
        let error = #expect(throws: PrefactorHTTPError.self) { try Configuration.fromEnvironment(environment) }
        #expect(error?.code == .configuration)
    }

    @Test func nonFiniteOrHugeRequestTimeoutIsRejectedWithoutCrashing() async {
        // `Double("inf")` parses, and converting an infinite or huge number of milliseconds to Int64 traps; the
        // variable must instead be rejected (or clamped) with a configuration error. Run in a child process.
        await #expect(processExitsWith: .success) {
            for text in ["inf", "Infinity", "1e300", "1e16"] {
                let configuration = try? APIClient.Configuration.fromEnvironment([
                    "PREFACTOR_API_URL": "http://h:1", "PREFACTOR_API_TOKEN": "t", "PREFACTOR_REQUEST_TIMEOUT": text,
                ])
                _ = configuration
            }
        }
    }

    @Test(arguments: ["nan", "-inf", "1e-300"])
    func nonsenseRequestTimeoutIsAConfigurationError(text: String) {
        var environment = Self.base
        environment["PREFACTOR_REQUEST_TIMEOUT"] = text
        let error = #expect(throws: PrefactorHTTPError.self) { try Configuration.fromEnvironment(environment) }
        #expect(error?.code == .configuration)
    }

    @Test(arguments: [("0", 0), ("5", 5), ("10", 10)])
    func maxRetriesIsRead(text: String, expected: Int) throws {
        var environment = Self.base
        environment["PREFACTOR_MAX_RETRIES"] = text
        #expect(try Configuration.fromEnvironment(environment).retryPolicy.maxRetries == expected)
    }

    @Test(arguments: ["-1", "two", "1.5", ""])
    func invalidMaxRetriesIsRejected(text: String) {
        var environment = Self.base
        environment["PREFACTOR_MAX_RETRIES"] = text
        let error = #expect(throws: PrefactorHTTPError.self) { try Configuration.fromEnvironment(environment) }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains("PREFACTOR_MAX_RETRIES") == true)
    }

    @Test func environmentKeysAreTheSpecsNames() {
        #expect(Configuration.EnvironmentKey.apiURL == "PREFACTOR_API_URL")
        #expect(Configuration.EnvironmentKey.apiToken == "PREFACTOR_API_TOKEN")
        #expect(Configuration.EnvironmentKey.retryOnStatusCodes == "PREFACTOR_RETRY_ON_STATUS_CODES")
        #expect(Configuration.EnvironmentKey.requestTimeout == "PREFACTOR_REQUEST_TIMEOUT")
        #expect(Configuration.EnvironmentKey.maxRetries == "PREFACTOR_MAX_RETRIES")
    }

    @Test(.timeLimit(.minutes(1)))
    func environmentConfigurationDrivesARealClient() async throws {
        try await withTestServer(token: "env-secret") { server in
            var configuration = try Configuration.fromEnvironment([
                "PREFACTOR_API_URL": server.baseURL, "PREFACTOR_API_TOKEN": "env-secret", "PREFACTOR_MAX_RETRIES": "1",
                "PREFACTOR_RETRY_ON_STATUS_CODES": "418",
            ])
            configuration.retryPolicy.initialDelay = .milliseconds(1)
            configuration.retryPolicy.maxDelay = .milliseconds(2)
            let client = try APIClient(configuration: configuration)
            server.faults.add(FaultRule(method: "GET", path: "/api/v1/ping", status: 418, count: 1))
            server.faults.add(FaultRule(method: "GET", path: "/api/v1/agent", status: 503, count: 1))
            let pinged: [String: JSONValue]?
            do {
                pinged = try await client.ping()
            } catch {
                Issue.record("418 is retried under the environment's list: \(error)")
                pinged = nil
            }
            let listed = await httpError { try await client.listAgents() }
            try await client.shutdown()
            #expect(pinged?["status"] == "success")
            #expect(listed?.code == .api, "503 is not in the environment's list")
            #expect(listed?.status == 503)
            #expect(server.requests.requests(method: "GET").map(\.status) == [418, 200, 503])
        }
    }
}

/// The API URL is checked once, where the configuration is built, so that no command can send to an address it
/// cannot represent (a port out of range used to crash the process) or to a doubled path.
struct APIURLValidationTests {
    @Test(arguments: [
        ("http://127.0.0.1:99999", "port out of range (99999)"),
        ("http://127.0.0.1:0", "port out of range (0)"),
        ("http://127.0.0.1:123456789012345678901234", "port out of range"),
        ("http://127.0.0.1:4x", "invalid port '4x'"),
        ("http://127.0.0.1:", "invalid port ''"),
        ("http://HOST/api/v1", "has a path (/api/v1)"),
        ("http://127.0.0.1:4000/api/v1/", "has a path (/api/v1)"),
        ("http://127.0.0.1:4000?x=1", "query"),
        ("http://127.0.0.1:4000#top", "fragment"),
        ("http://user:pw@127.0.0.1:4000", "user name or password"),
        ("http://:4000", "no valid host"),
    ])
    func badURLsAreRejectedWithTheReason(url: String, reason: String) throws {
        let error = try #require(throws: PrefactorHTTPError.self) {
            try APIClient.Configuration.fromEnvironment([:], apiURL: url, apiToken: "t")
        }
        #expect(error.code == .configuration)
        #expect(error.message.contains(reason), "\(error.message)")
        #expect(throws: PrefactorHTTPError.self) { try APIClient(configuration: .init(apiURL: url, apiToken: "t")) }
    }

    @Test func theEnvironmentIsCheckedToo() throws {
        let error = try #require(throws: PrefactorHTTPError.self) {
            try APIClient.Configuration.fromEnvironment([
                "PREFACTOR_API_URL": "http://127.0.0.1:70000", "PREFACTOR_API_TOKEN": "t",
            ])
        }
        #expect(error.message.contains("port out of range (70000)"))
    }

    @Test(arguments: [
        "http://127.0.0.1:1", "http://127.0.0.1:65535", "https://[::1]:4000", "http://localhost", "https://app.prefactorai.com//",
    ])
    func usableOriginsPass(url: String) throws {
        #expect(APIClient.Configuration.problem(withAPIURL: url) == nil)
        _ = try APIClient.Configuration.fromEnvironment([:], apiURL: url, apiToken: "t")
    }
}
