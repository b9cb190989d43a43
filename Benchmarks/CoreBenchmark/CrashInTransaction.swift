import ArgumentParser
import Foundation
import Glibc
import PrefactorCore
import PrefactorWire

/// Dies with SIGKILL in the middle of a queue file transaction (for the durable queue's tests): writes a span's create
/// and finish to the file, then appends the create's settlement (the API id it produced, and the create forgotten) to
/// the log and is killed while applying it to the SQLite file, after the id is written and before the settlement is,
/// inside the one transaction.
struct CrashInTransaction: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crash-in-transaction",
        abstract: "Queue a span's create and finish in a queue file, then die with SIGKILL while settling the create.")

    @Option(name: .customLong("queue-file")) var queueFile: String
    @Option var instance: String
    @Option(help: "The create's idempotency key.") var createKey: String
    @Option(help: "The finish's idempotency key.") var finishKey: String
    @Option(help: "The API id the create produced.") var apiID: String
    @Option(help: "The create's start time (seconds since 1970).") var startedAt: Double

    func run() async throws {
        let store = try SQLiteTelemetryQueueStore(
            path: queueFile, midTransaction: { changes in if !changes.forget.isEmpty { kill(getpid(), SIGKILL) } })
        let started = Date(timeIntervalSince1970: startedAt)
        let create = TelemetryOperation(
            id: 1, instanceID: instance,
            body: .createSpan(
                spanID: "span-1", parentSpanID: nil, schemaName: "agent:step", status: .active, payload: ["n": 1],
                startedAt: started),
            idempotencyKey: createKey, enqueuedAt: started)
        let finish = TelemetryOperation(
            id: 2, instanceID: instance,
            body: .finishSpan(spanID: "span-1", status: .complete, resultPayload: ["ok": true], timestamp: started),
            idempotencyKey: finishKey, enqueuedAt: started, dependencies: [.init(operationID: 1, kind: .requires)])
        if let failure = store.apply(StoreChanges(persist: [create, finish])) {
            print("could not write: \(failure)")
            throw ExitCode(2)
        }
        store.checkpoint()
        // The settlement is appended to the log whole; applying it to the SQLite file is where the kill comes.
        store.apply(StoreChanges(forget: [1], resolved: [("span-1", apiID)]))
        store.checkpoint()
        print("not killed")
        throw ExitCode(3)
    }
}
