import ArgumentParser
import Foundation
import PrefactorCore
import PrefactorWire

/// The cost of a queue file write as the agent pays it: one operation appended to the file's log (and, separately,
/// what encoding its record costs), with nothing else running; then what applying the log to SQLite costs per
/// operation, which the store does off the agent's path.
struct StoreWrite: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store-write", abstract: "Time per queue file write of one operation, and per operation applied (no server)."
    )

    @Option(help: "Operations to write.") var operations = 20_000

    func run() async throws {
        let path = temporaryQueueFile()
        defer { removeQueueFile(path) }
        // Applied only when asked, so the appends are timed alone.
        let store = try SQLiteTelemetryQueueStore(path: path, midTransaction: nil, applyDelay: nil)
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
        let applyStart = clock.now
        store.checkpoint()
        let applied = clock.now - applyStart
        var forgets: [Duration] = []
        for item in samples.prefix(5_000) {
            let start = clock.now
            store.apply(StoreChanges(forget: [item.id]))
            forgets.append(clock.now - start)
        }
        print(String(format: "record encoding: median %.2f µs", percentile(encode.sorted(), 0.5)))
        print(
            String(
                format: "log write of one new operation: median %.2f µs, p99 %.2f µs", percentile(writes.sorted(), 0.5),
                percentile(writes.sorted(), 0.99)))
        print(String(format: "log write forgetting one operation: median %.2f µs", percentile(forgets.sorted(), 0.5)))
        print(
            String(
                format: "applying the log to SQLite (off the agent's path): %.2f µs per operation (%d in one transaction)",
                Double(applied.components.seconds) * 1_000_000 + Double(applied.components.attoseconds) / 1e12
                    / Double(operations), operations))
    }
}
