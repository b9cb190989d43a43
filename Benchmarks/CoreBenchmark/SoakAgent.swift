import ArgumentParser
import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorWire

/// The agent of the crash soak (Tests/Soak/crash-soak.sh): records numbered spans through a durable queue and
/// appends a line to a ledger after each call that queued something returned, so that a `kill -9` at any moment
/// leaves a ledger of exactly what the agent was told was queued. Restarted on the same queue file and ledger, it
/// goes on from the next number; the queue file's backlog is delivered by the new client.
struct SoakAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak-agent",
        abstract: "Record numbered spans through a queue file, writing a ledger of what was queued (crash soak).")

    @Option(name: .customLong("api-url")) var apiURL: String
    @Option var token: String
    @Option(name: .customLong("queue-file")) var queueFile: String
    @Option(help: "The ledger: `begin NUMBER` before a span, `NUMBER STATUS INSTANCE` once its calls returned.")
    var ledger: String
    @Option(help: "Spans to record in all (over every restart).") var spans = 300
    @Option(help: "Milliseconds between spans.") var pause = 5

    func run() async throws {
        let existing = (try? String(contentsOfFile: ledger, encoding: .utf8)) ?? ""
        // A line is acknowledged only with its newline: a line cut by a kill is dropped.
        let complete: String
        if let end = existing.lastIndex(of: "\n") {
            complete = String(existing[...end])
        } else {
            complete = ""
        }
        try complete.write(toFile: ledger, atomically: true, encoding: .utf8)
        // Go on after the last span begun: one begun but not acknowledged may or may not have been queued.
        let done =
            complete.split(separator: "\n").compactMap { line -> Int? in
                let fields = line.split(separator: " ")
                return fields.first == "begin" ? fields.dropFirst().first.flatMap { Int($0) } : Int(fields.first ?? "")
            }.max().map { $0 + 1 } ?? 0
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: ledger))
        try handle.seekToEnd()
        var api = APIClient.Configuration(apiURL: apiURL, apiToken: token)
        api.retryPolicy = RetryPolicy(maxRetries: 2, initialDelay: .milliseconds(50), maxDelay: .milliseconds(500))
        var configuration = PrefactorClient.Configuration(api: api, workers: 3, drainTimeout: .seconds(120))
        configuration.queueFile = queueFile
        configuration.validateTokenOnStart = false
        let statuses: [FinishStatus] = [.complete, .failed, .cancelled]
        try await withPrefactorClient(configuration: configuration) { client in
            let run = try await client.createAgentInstance(agentVersion: ["name": "soak-agent"], agentSchemaVersion: [:])
            try await run.start()
            for number in done..<spans {
                let status = statuses[number % 3]
                handle.write(Data("begin \(number)\n".utf8))
                let id = try await run.createSpan(schemaName: "soak:step", payload: ["n": .int(Int64(number))])
                try await run.finishSpan(id, resultPayload: ["n": .int(Int64(number))], status: status)
                handle.write(Data("\(number) \(status.rawValue) \(run.id)\n".utf8))
                try await Task.sleep(for: .milliseconds(pause))
            }
            try await run.finish()
        }
        print("soak-agent: \(spans) spans acknowledged; queue drained")
    }
}
