import ArgumentParser
import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorWire

/// How long a client takes to take over a queue file with a large backlog (opening it, reading every operation and
/// restoring it into the queue), before it sends anything.
struct Recovery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recovery", abstract: "Time for a new client to take over a queue file holding N operations.")

    @Option(help: "Operations in the file (span creates and finishes).") var operations = 100_000

    func run() async throws {
        let path = temporaryQueueFile()
        defer { removeQueueFile(path) }
        do {
            let store = try SQLiteTelemetryQueueStore(path: path)
            var batch: [TelemetryOperation] = []
            let now = Date()
            for index in 0..<(operations / 2) {
                let create = UInt64(2 * index + 1)
                batch.append(
                    TelemetryOperation(
                        id: create, instanceID: "ai_bench",
                        body: .createSpan(
                            spanID: "span-\(index + 1)", parentSpanID: nil, schemaName: "agent:llm", status: .active,
                            payload: ["model": "gpt-4", "prompt": "Summarise the ticket", "index": .int(Int64(index))],
                            startedAt: now),
                        idempotencyKey: UUID().uuidString.lowercased(), enqueuedAt: now))
                batch.append(
                    TelemetryOperation(
                        id: create + 1, instanceID: "ai_bench",
                        body: .finishSpan(
                            spanID: "span-\(index + 1)", status: .complete, resultPayload: ["response": "ok"], timestamp: now),
                        idempotencyKey: UUID().uuidString.lowercased(), enqueuedAt: now,
                        dependencies: [.init(operationID: create, kind: .requires)]))
                if batch.count >= 5_000 {
                    store.apply(StoreChanges(persist: batch))
                    batch.removeAll(keepingCapacity: true)
                }
            }
            store.apply(StoreChanges(persist: batch))
        }
        var configuration = PrefactorClient.Configuration(api: .init(apiURL: "http://127.0.0.1:9", apiToken: "bench"))
        configuration.queueFile = path
        let clock = ContinuousClock()
        var durations: [Duration] = []
        for _ in 0..<3 {
            let start = clock.now
            let client = try PrefactorClient(configuration: configuration)
            let depth = client.snapshot().queue.depth
            durations.append(clock.now - start)
            guard depth == operations else { throw ValidationError("restored \(depth) of \(operations) operations") }
        }
        let sorted = durations.sorted()
        print(
            String(
                format: "recovery of %d queued operations from a queue file: median %.3f s (runs: %@)", operations,
                sorted[1].seconds, durations.map { String(format: "%.3f", $0.seconds) }.joined(separator: ", ")))
    }
}
