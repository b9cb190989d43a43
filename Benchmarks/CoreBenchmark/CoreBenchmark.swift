import ArgumentParser
import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire

/// Benchmarks of the core client (run a release build): agent-visible latency, drain throughput, queue memory.
@main
struct CoreBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prefactor-core-benchmark",
        abstract: "Benchmarks of PrefactorCore.",
        subcommands: [
            AgentLatency.self, Drain.self, QueueMemory.self, Recovery.self, SoakAgent.self, CrashInTransaction.self,
            StoreWrite.self,
        ])
}

func percentile(_ sorted: [Duration], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))].seconds * 1_000_000
}

func clientConfiguration(url: String, token: String, workers: Int) -> PrefactorClient.Configuration {
    var api = APIClient.Configuration(apiURL: url, apiToken: token)
    api.retryPolicy = RetryPolicy(maxRetries: 3, initialDelay: .milliseconds(50), maxDelay: .seconds(1))
    return PrefactorClient.Configuration(api: api, workers: workers, drainTimeout: .seconds(600))
}

/// (a) Time the agent spends in span start + finish while every request to the API takes 50 ms more.
struct AgentLatency: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent-latency",
        abstract: "Agent-visible time per span (start + finish) while the server adds latency to every request.")

    @Option(help: "Spans to record.") var spans = 2_000
    @Option(help: "Latency the server adds to every request, in milliseconds.") var latency = 50
    @Option(help: "Delivery workers.") var workers = 20
    @Flag(inversion: .prefixedNo, help: "Configuration.coalesceSpanFinishes (on by default).")
    var coalesce = true
    @Flag(help: "Keep the queue in a temporary queue file (the durable queue) instead of memory.") var durable = false

    func run() async throws {
        try await withTestServer(faults: [FaultRule(path: "/api/v1/*", latencyMilliseconds: latency)]) { server in
            var configuration = clientConfiguration(url: server.baseURL, token: server.token, workers: workers)
            configuration.coalesceSpanFinishes = coalesce
            let file = durable ? temporaryQueueFile() : nil
            defer { file.map(removeQueueFile) }
            configuration.queueFile = file
            let clock = ContinuousClock()
            var durations: [Duration] = []
            durations.reserveCapacity(spans)
            let drainStart = try await withPrefactorClient(configuration: configuration) { client in
                let run = try await client.createAgentInstance(agentVersion: ["name": "bench"], agentSchemaVersion: [:])
                try await run.start()
                let manager = client.spanManager
                for index in 0..<spans {
                    let start = clock.now
                    let id = try await manager.create(
                        instanceID: run.id, schemaName: "agent:llm", payload: ["model": "gpt-4", "index": .int(Int64(index))])
                    try await manager.finish(id, resultPayload: ["response": "ok"], status: .complete)
                    durations.append(clock.now - start)
                }
                try await run.finish()
                return clock.now
            }
            let drained = clock.now - drainStart
            let sorted = durations.sorted()
            print(
                "agent-visible time per span (start + finish), \(spans) spans, server latency \(latency) ms per request\(durable ? ", durable queue" : ""):"
            )
            print(String(format: "  median  %.2f µs", percentile(sorted, 0.5)))
            print(String(format: "  p99     %.2f µs", percentile(sorted, 0.99)))
            print(String(format: "  queue drained %.1f s after the agent finished (%d workers)", drained.seconds, workers))
        }
    }
}

/// (b) How fast the client delivers a workload to a running server.
struct Drain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Drain throughput: instances × spans (create + finish each) delivered to a server.",
        discussion: "Without --api-url an in-process server with a temporary SQLite file is used.")

    @Option(help: "Instances.") var instances = 10
    @Option(help: "Spans per instance.") var spans = 200
    @Option(help: "Delivery workers.") var workers = 8
    @Option(name: .customLong("api-url"), help: "A running server.") var apiURL: String?
    @Option(help: "Its token.") var token: String?
    @Flag(
        inversion: .prefixedNo,
        help:
            "Send a span finished before its create went out as one create (Configuration.coalesceSpanFinishes, the default); --no-coalesce sends the official Python SDK's two requests."
    )
    var coalesce = true
    @Flag(help: "Keep the queue in a temporary queue file (the durable queue) instead of memory.") var durable = false
    @Option(
        name: .customLong("bulk-max-items"),
        help: "Span creates per bulk request (Configuration.bulkMaxItems); 0 sends every operation as its own request.")
    var bulkMaxItems = PrefactorClient.Configuration.defaultBulkMaxItems

    func run() async throws {
        if let apiURL, let token {
            try await measure(url: apiURL, token: token)
        } else {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent(
                "prefactor-drain-\(UUID().uuidString).sqlite"
            ).path
            defer {
                for suffix in [""] + SQLiteTelemetryQueueStore.companionSuffixes {
                    try? FileManager.default.removeItem(atPath: path + suffix)
                }
            }
            try await withTestServer(database: .file(path)) { server in
                try await measure(url: server.baseURL, token: server.token)
            }
        }
    }

    func measure(url: String, token: String) async throws {
        let clock = ContinuousClock()
        let started = clock.now
        var configuration = clientConfiguration(url: url, token: token, workers: workers)
        configuration.coalesceSpanFinishes = coalesce
        configuration.bulkMaxItems = bulkMaxItems
        let file = durable ? temporaryQueueFile() : nil
        defer { file.map(removeQueueFile) }
        configuration.queueFile = file
        try await withPrefactorClient(configuration: configuration) { client in
            for _ in 0..<instances {
                let run = try await client.createAgentInstance(agentVersion: ["name": "bench"], agentSchemaVersion: [:])
                try await run.start()
                for index in 0..<spans {
                    let id = try await run.createSpan(
                        schemaName: "agent:llm", payload: ["model": "gpt-4", "index": .int(Int64(index))])
                    try await run.finishSpan(id, resultPayload: ["response": "ok"])
                }
                try await run.finish()
            }
        }
        let elapsed = clock.now - started
        let operations = instances * (3 + 2 * spans)
        print(
            "swift drain\(coalesce ? "" : " (--no-coalesce)")\(durable ? " (durable queue)" : "") (bulk \(bulkMaxItems)): \(instances) instances × \(spans) spans, \(workers) workers: \(operations) operations in "
                + String(format: "%.2f s = %.0f operations/s", elapsed.seconds, Double(operations) / elapsed.seconds))
    }
}

/// (c) Memory held by queued operations.
struct QueueMemory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue-memory", abstract: "Resident memory for queued operations (nothing is delivered).")

    @Option(help: "Operations to queue (half span starts, half span finishes).") var operations = 100_000
    @Flag(help: "Keep the queue in a temporary queue file (the durable queue) instead of memory.") var durable = false
    @Option(help: "Seconds to wait before measuring again, once a queue file's log is applied.") var settle = 2

    func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
            let pages = text.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    func run() async throws {
        try await withTestServer { server in
            var config = clientConfiguration(url: server.baseURL, token: server.token, workers: 1)
            config.drainTimeout = .zero
            config.eventBufferSize = 16
            let file = durable ? temporaryQueueFile() : nil
            defer { file.map(removeQueueFile) }
            config.queueFile = file
            let client = try PrefactorClient(configuration: config)
            let run = try await client.createAgentInstance(agentVersion: ["name": "bench"], agentSchemaVersion: [:])
            let before = residentBytes()
            for index in 0..<(operations / 2) {
                let id = try await client.spanManager.create(
                    instanceID: run.id, schemaName: "agent:llm",
                    payload: ["model": "gpt-4", "prompt": "Summarise the ticket", "index": .int(Int64(index))])
                try await client.spanManager.finish(id, resultPayload: ["response": "ok", "tokens": 42])
            }
            // Measured before anything reads the queue: a snapshot of 100,000 operations is itself some megabytes,
            // which the allocator keeps.
            let queued = operations / 2 * 2
            func report(_ when: String) {
                let grown = residentBytes() - before
                print(
                    "queue memory: \(queued) operations queued, resident memory grew by "
                        + String(
                            format: "%.1f MB (%.0f bytes per operation, spans and operations together), %@",
                            Double(grown) / 1_048_576, Double(grown) / Double(max(queued, 1)), when))
            }
            report("right after the last was queued")
            // A queue file's log is applied within a second of the last step: then the queue is at rest.
            try await Task.sleep(for: .seconds(settle))
            report("\(settle) s later, at rest")
            let depth = client.snapshot().queue.depth
            if depth != queued { print("  but the queue holds \(depth) operations") }
            let shutdown = await client.shutdown()
            print("  shutdown reported \(shutdown.undelivered.count) undelivered operations")
        }
    }
}

/// A fresh queue file path in the temporary directory.
func temporaryQueueFile() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("prefactor-bench-queue-\(UUID().uuidString).sqlite").path
}

/// Removes a queue file and its companions.
func removeQueueFile(_ path: String) {
    for suffix in [""] + SQLiteTelemetryQueueStore.companionSuffixes {
        try? FileManager.default.removeItem(atPath: path + suffix)
    }
}
