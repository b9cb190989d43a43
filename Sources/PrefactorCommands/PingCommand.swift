import ArgumentParser
import Foundation
import PrefactorHTTP

/// `prefactor ping`: checks that an API answers and accepts the token.
struct PingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ping",
        abstract: "Check that a Prefactor API answers and accepts the token (GET /api/v1/ping).",
        discussion: "Exits 0 when the API accepts the token, 1 otherwise.")

    @OptionGroup var api: APIOptions

    @Option(help: "Seconds to wait for the answer.")
    var timeout: Double = 10

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be greater than 0") }
    }

    func run() async throws {
        var configuration = try api.clientConfiguration()
        configuration.retryPolicy.maxRetries = 0
        configuration.requestTimeout = .milliseconds(Int64(timeout * 1000))
        let client = try APIClient(configuration: configuration)
        let clock = ContinuousClock()
        let start = clock.now
        do {
            try await client.ping()
            let elapsed = clock.now - start
            try? await client.shutdown()
            let milliseconds = elapsed.seconds * 1000
            printFlushed("OK: \(configuration.apiURL) accepted the token (\(String(format: "%.1f", milliseconds)) ms)")
        } catch {
            try? await client.shutdown()
            let reason: String
            switch error.code {
            case .auth: reason = "the token was rejected"
            case .transport: reason = "the API could not be reached"
            case .timeout: reason = "no answer within \(timeout) s"
            case .notFound, .responseContract: reason = "this is not a Prefactor API"
            default: reason = "the API answered with an error"
            }
            printError("error: \(configuration.apiURL): \(reason): \(error.summary(endpoint: configuration.endpoint))")
            throw ExitCode.failure
        }
    }
}
