import ArgumentParser
import Foundation
import PrefactorCore
import PrefactorWire

/// The cost of one queue file transaction as the agent pays it: one operation written (and, separately, what
/// encoding its record costs), with nothing else running.
struct StoreWrite: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store-write", abstract: "Time per queue file transaction writing one operation (no server).")

    @Option(help: "Operations to write.") var operations = 20_000

    func run() async throws {
        let path = temporaryQueueFile()
        defer { removeQueueFile(path) }
        let store = try SQLiteTelemetryQueueStore(path: path)
        let clock = ContinuousClock()
        let now = Date()
        func operation(_ index: Int) -> TelemetryOperation {
            TelemetryOperation(
                id: UInt64(index + 1), instanceID: "ai_bench",
                body: .createSpan(
                    spanID: "span-\(index + 1)", parentSpanID: nil, schemaName: "agent:llm", status: .active,
                    payload: ["model": "gpt-4", "prompt": "Summarise the ticket", "index": .int(Int64(index))],
                    startedAt: now),
                idempotencyKey: UUID().uuidString.lowercased(), enqueuedAt: now)
        }
        let samples = (0..<operations).map(operation)
        var encode: [Duration] = []
        for item in samples.prefix(5_000) {
            let start = clock.now
            _ = item.recordText
            encode.append(clock.now - start)
        }
        var writes: [Duration] = []
        writes.reserveCapacity(operations)
        for item in samples {
            let start = clock.now
            store.apply(StoreChanges(persist: [item]))
            writes.append(clock.now - start)
        }
        var forgets: [Duration] = []
        for item in samples.prefix(5_000) {
            let start = clock.now
            store.apply(StoreChanges(forget: [item.id]))
            forgets.append(clock.now - start)
        }
        print(String(format: "record encoding: median %.2f µs", percentile(encode.sorted(), 0.5)))
        print(
            String(
                format: "transaction writing one operation: median %.2f µs, p99 %.2f µs", percentile(writes.sorted(), 0.5),
                percentile(writes.sorted(), 0.99)))
        print(String(format: "transaction forgetting one operation: median %.2f µs", percentile(forgets.sorted(), 0.5)))
    }
}
