import ArgumentParser
import Foundation
import PrefactorCore
import PrefactorHTTP

/// `prefactor export RUN_ID`: a run with all its spans, as JSON.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a run (agent instance) with all its spans as JSON, read from the API.",
        discussion: """
            Reads the run and every page of its spans, and writes one JSON document: {"format": "prefactor.run-export.v1", "exported_at", "api_url", "instance", "span_count", "spans": [...]}, with the API's own field names. Spans are ordered by start time. The terminal UI's E key writes the same document to a file.

            Examples:
              prefactor export inst_123 --api-url http://127.0.0.1:4000 > run.json
              prefactor export inst_123 --output run.json

            Exits 1 when the API has no such run, rejects the token, or cannot be reached.
            """)

    @Argument(help: ArgumentHelp("The run's id (the agent instance id).", valueName: "RUN_ID"))
    var runID: String

    @OptionGroup var api: APIOptions

    @Option(name: .shortAndLong, help: ArgumentHelp("Write to this file instead of standard output.", valueName: "FILE"))
    var output: String?

    @Option(help: "Seconds to wait for each answer.")
    var timeout: Double = 30

    func validate() throws {
        guard !runID.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("RUN_ID must not be empty") }
        guard timeout > 0 else { throw ValidationError("--timeout must be greater than 0") }
    }

    func run() async throws {
        var configuration = try api.clientConfiguration()
        configuration.requestTimeout = .milliseconds(Int64(timeout * 1000))
        // A wrong token or a missing run is known at once; only transient failures are worth retrying.
        configuration.retryPolicy.maxRetries = 2
        let client = try APIClient(configuration: configuration)
        let export: RunExport
        do {
            export = try await RunExport.fetch(instanceID: runID, from: client, apiURL: configuration.apiURL)
            try? await client.shutdown()
        } catch {
            try? await client.shutdown()
            let reason: String
            // After the retries, the last attempt's failure says what went wrong.
            switch (error.code == .retriesExhausted ? error.lastError?.code : nil) ?? error.code {
            case .notFound: reason = "the API has no run \(runID)"
            case .auth: reason = "the token was rejected"
            case .transport, .timeout: reason = "the API could not be reached"
            default: reason = "the API answered with an error"
            }
            printError("error: \(configuration.apiURL): \(reason): \(error.summary(endpoint: configuration.endpoint))")
            throw ExitCode.failure
        }
        let data = try export.jsonData()
        if let output, output != "-" {
            do { try data.write(to: URL(fileURLWithPath: output), options: .atomic) } catch {
                printError("error: cannot write \(output): \(error.localizedDescription)")
                throw ExitCode.failure
            }
            printError("Exported run \(runID) with \(export.spans.count) span(s) to \(output)")
        } else {
            FileHandle.standardOutput.write(data)
        }
    }
}
