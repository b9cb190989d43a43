import ArgumentParser
import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorWire

/// `prefactor queue`: list, inspect and rescue durable queue files, including those of processes that died.
struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "List, inspect and rescue the queue files that hold undelivered telemetry.",
        discussion: """
            A client with a queue file (PREFACTOR_QUEUE_FILE, or `prefactor tui` and `prefactor demo`, which keep \
            one per process in $XDG_STATE_HOME/prefactor/queues) writes every operation there before the call \
            that queued it returns. When the process dies with a backlog, the file keeps it: `queue list` finds \
            it, `queue show` prints it, `queue deliver` sends it, and `queue drop` discards operations that \
            failed for good.
            """,
        subcommands: [List.self, Show.self, Deliver.self, Drop.self])

    /// Where to look for queue files.
    struct Location: ParsableArguments {
        @Option(help: "The directory of queue files (default: $XDG_STATE_HOME/prefactor/queues).")
        var directory: String?

        var resolved: String { directory ?? QueueFiles.defaultDirectory() }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List queue files: owner and whether it is alive, depth, oldest age, failed count, size.")

        @OptionGroup var location: Location
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let files = QueueFiles.list(in: location.resolved)
            let summaries = files.map(QueueFiles.summary(of:))
            if json {
                let items: [JSONValue] = summaries.map { summary in
                    var object: [String: JSONValue] = [
                        "path": .string(summary.path), "owner_alive": .bool(summary.ownerAlive),
                        "depth": .int(Int64(summary.depth)), "failed": .int(Int64(summary.failed)),
                        "bytes": .int(Int64(summary.bytes)),
                    ]
                    if let owner = summary.owner {
                        object["owner_pid"] = .int(Int64(owner.pid))
                        object["owner_command"] = .string(owner.command)
                        object["owner_started_at"] = .string(WireDate.format(owner.startedAt))
                    }
                    if let oldest = summary.oldest { object["oldest_enqueued_at"] = .string(WireDate.format(oldest)) }
                    if let problem = summary.problem { object["problem"] = .string(problem) }
                    return .object(object)
                }
                printFlushed(JSONText.serialize(JSONValue.array(items)))
                return
            }
            guard !summaries.isEmpty else {
                printFlushed("No queue files in \(location.resolved).")
                return
            }
            printFlushed("OWNER            STATE  DEPTH  FAILED  OLDEST   SIZE      FILE")
            let now = Date()
            for summary in summaries {
                let owner = summary.owner.map { "pid \($0.pid)" } ?? "unknown"
                let state = summary.problem != nil ? "bad" : summary.ownerAlive ? "live" : "dead"
                let oldest = summary.oldest.map { Self.age(now.timeIntervalSince($0)) } ?? "-"
                printFlushed(
                    Self.pad(owner, 16) + " " + Self.pad(state, 6) + " " + Self.pad("\(summary.depth)", 6) + " "
                        + Self.pad("\(summary.failed)", 7) + " " + Self.pad(oldest, 8) + " "
                        + Self.pad(ByteCount.text(summary.bytes), 9) + " " + summary.path)
                if let problem = summary.problem { printFlushed("  cannot be read: \(problem)") }
            }
            let dead = summaries.filter { !$0.ownerAlive && $0.depth > 0 }
            if !dead.isEmpty {
                printFlushed(
                    "\(dead.count) file(s) of dead processes hold undelivered telemetry: `prefactor queue deliver FILE`.")
            }
        }

        static func pad(_ text: String, _ width: Int) -> String {
            text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
        }

        static func age(_ seconds: TimeInterval) -> String {
            if seconds < 60 { return "\(Int(seconds))s" }
            if seconds < 3600 { return "\(Int(seconds / 60))m" }
            if seconds < 86_400 { return "\(Int(seconds / 3600))h" }
            return "\(Int(seconds / 86_400))d"
        }

    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a queue file's operations: kind, run, span, key, state, error, what each waits for.",
            discussion: "Opens the file read-only: safe while its owner runs.")

        @Argument(help: "The queue file.") var file: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let store: SQLiteTelemetryQueueStore
            do { store = try SQLiteTelemetryQueueStore.inspect(path: file) } catch {
                printError("error: \(error.message)")
                throw ExitCode.failure
            }
            let entries = try store.entries()
            let present = Set(entries.map(\.id))
            let owner = store.owner()
            let alive = SQLiteTelemetryQueueStore.isOwned(path: file)
            if json {
                let items: [JSONValue] = entries.map { entry in
                    var object: [String: JSONValue] = [
                        "id": .int(Int64(entry.id)), "kind": .string(entry.kind), "instance_id": .string(entry.instanceID),
                        "idempotency_key": .string(entry.idempotencyKey),
                        "enqueued_at": .string(WireDate.format(entry.enqueuedAt)),
                        "state": .string(entry.failedReason == nil ? "pending" : "failed"),
                        "waits_for": .array(Self.waitsFor(entry, present).map { .int(Int64($0)) }),
                    ]
                    if let spanID = entry.spanID { object["span_id"] = .string(spanID) }
                    if let reason = entry.failedReason { object["error"] = .string(reason) }
                    object["attempts"] = .int(Int64(entry.attempts))
                    if let last = entry.lastError { object["last_error"] = .string(last) }
                    if entry.operation == nil { object["unreadable"] = .bool(true) }
                    return .object(object)
                }
                var document: [String: JSONValue] = [
                    "path": .string(file), "owner_alive": .bool(alive), "operations": .array(items),
                ]
                if let owner { document["owner_pid"] = .int(Int64(owner.pid)) }
                printFlushed(JSONText.serialize(document))
                return
            }
            let who = owner.map { "pid \($0.pid) (\($0.command)), \(alive ? "running" : "not running")" } ?? "unknown owner"
            printFlushed("\(file): \(entries.count) operation(s), \(who)")
            for entry in entries {
                var line = "#\(entry.id) \(entry.kind) run \(entry.instanceID)"
                if let spanID = entry.spanID { line += " span \(spanID)" }
                line += " key \(entry.idempotencyKey)"
                line += entry.failedReason == nil ? " pending" : " FAILED"
                let waits = Self.waitsFor(entry, present)
                if !waits.isEmpty { line += " waits for " + waits.map { "#\($0)" }.joined(separator: ", ") }
                if entry.operation == nil { line += " (record unreadable)" }
                if entry.attempts > 0 { line += ", \(entry.attempts) failed attempt(s)" }
                printFlushed(line)
                if let reason = entry.failedReason {
                    printFlushed("    error: \(reason)")
                } else if let last = entry.lastError {
                    printFlushed("    last error: \(last)")
                }
            }
        }

        static func waitsFor(_ entry: QueueFileEntry, _ present: Set<UInt64>) -> [UInt64] {
            (entry.operation?.dependencies ?? []).map(\.operationID).filter { present.contains($0) }
        }
    }

    struct Deliver: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take over a queue file whose process is gone and deliver it to an API.",
            discussion: """
                Sends every pending operation with its original idempotency key (an operation that was in flight \
                when its process died is answered from the API's idempotency record, not duplicated). Prints \
                progress; exits 0 only when the file is empty, 1 when operations failed or could not be \
                delivered in time, and refuses a file whose owner is still running.
                """)

        @Argument(help: "The queue file.") var file: String
        @OptionGroup var api: APIOptions
        @Option(help: "Seconds to keep trying before giving up.") var timeout: Double = 300

        func validate() throws {
            guard timeout > 0 else { throw ValidationError("--timeout must be greater than 0") }
        }

        func run() async throws {
            guard FileManager.default.fileExists(atPath: file) else {
                printError("error: no queue file at \(file)")
                throw ExitCode.failure
            }
            var configuration = PrefactorClient.Configuration(api: try api.clientConfiguration())
            configuration.queueFile = file
            configuration.drainTimeout = .milliseconds(Int64(timeout * 1000))
            let client: PrefactorClient
            do { client = try PrefactorClient(configuration: configuration) } catch {
                printError("error: \(error.message)")
                throw ExitCode.failure
            }
            let total = client.snapshot().queue.depth
            printFlushed("Delivering \(total) operation(s) from \(file) to \(configuration.api.apiURL)")
            let progress = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(500))
                    let stats = client.snapshot().queue
                    printError(
                        "  delivered \(stats.delivered)/\(total), failed \(stats.failed), left \(stats.depth), health \(client.snapshot().health.rawValue)"
                    )
                }
            }
            let report = try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.run() }
                let deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
                while client.snapshot().queue.depth > 0, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(50))
                }
                let report = await client.shutdown()
                try await group.waitForAll()
                return report
            }
            progress.cancel()
            let left = (try? SQLiteTelemetryQueueStore.inspect(path: file).entries().count) ?? -1
            printFlushed(
                "Delivered \(report.deliveredCount), failed \(report.failed.count), undelivered \(report.undelivered.count); \(left) left in the file"
            )
            if !report.isComplete || left != 0 {
                if !report.failed.isEmpty {
                    printError(
                        "Failed operations stay in the file: `prefactor queue show \(file)`, then `prefactor queue drop \(file) ID...`"
                    )
                }
                throw ExitCode.failure
            }
        }
    }

    struct Drop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Discard operations that failed for good from a queue file (recorded in the file as dropped).",
            discussion: "Only failed operations can be dropped; asks for confirmation unless --yes.")

        @Argument(help: "The queue file.") var file: String
        @Argument(help: "Operation ids (from `prefactor queue show`).") var operations: [UInt64]
        @Flag(help: "Do not ask for confirmation.") var yes = false

        func validate() throws {
            guard !operations.isEmpty else { throw ValidationError("name at least one operation id") }
        }

        func run() async throws {
            let store: SQLiteTelemetryQueueStore
            do { store = try SQLiteTelemetryQueueStore(path: file) } catch {
                printError("error: \(error.message)")
                throw ExitCode.failure
            }
            let entries = Dictionary(uniqueKeysWithValues: try store.entries().map { ($0.id, $0) })
            for id in operations {
                guard let entry = entries[id] else {
                    printError("error: operation \(id) is not in \(file)")
                    throw ExitCode.failure
                }
                guard entry.failedReason != nil else {
                    printError("error: operation \(id) has not failed; only failed operations can be dropped")
                    throw ExitCode.failure
                }
            }
            if !yes {
                printFlushed("Drop \(operations.count) failed operation(s) from \(file)? They will never be delivered. [y/N] ")
                guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                    printFlushed("Nothing dropped.")
                    throw ExitCode.failure
                }
            }
            let dropped = try store.drop(operations, reason: "dropped with prefactor queue drop")
            printFlushed("Dropped \(dropped.count) operation(s); the file records what was dropped.")
        }
    }
}
