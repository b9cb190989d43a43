import Foundation
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Synchronization

/// A server clock for seeding: it reads a time the seeder moves forward (in the past) instead of the wall clock, and,
/// like the server's own clock, never repeats or goes back. Writes then get `inserted_at` and `updated_at` values
/// from the past, as if the runs had happened then.
final class SeedClock: Sendable {
    private struct State {
        var last: Int64
        var floor: Int64
    }

    private let state: Mutex<State>

    /// A clock that starts at `start`.
    init(start: Date) {
        let micros = WireDate.microseconds(of: start)
        state = Mutex(State(last: micros - 1, floor: micros))
    }

    /// Moves the clock forward to `date` (never back).
    func advance(to date: Date) {
        let micros = WireDate.microseconds(of: date)
        state.withLock { $0.floor = max($0.floor, micros) }
    }

    /// The next server time, in microseconds.
    func next() -> Int64 {
        state.withLock { state in
            state.last = max(state.last + 1, state.floor)
            return state.last
        }
    }
}

/// One agent run to seed: registered, started, its spans created (already finished, or running for a live run), then
/// finished, failed, cancelled or terminated.
struct SeedRun: Sendable {
    enum Outcome: Sendable {
        case finished(FinishStatus)
        case terminated
        case live
    }

    /// A number that varies the run's statuses and payloads.
    var index: Int
    var id: String
    var agentID: String
    var agentName: String
    var startedAt: Date
    /// When it finished; for a live run, the time of its latest span.
    var endsAt: Date
    var outcome: Outcome
    var spans: Int

    /// The API calls of the run, as items of a bulk request in the TypeScript CLI's dialect.
    var bulkItems: [JSONValue] {
        var items = [
            Seeder.item(
                "/agent_instance/register",
                RegisterAgentInstanceRequest(
                    agentVersion: ["name": .string(agentName), "external_identifier": .string(agentName + "-1.0")],
                    agentID: agentID, id: id)),
            Seeder.item("/agent_instance/\(id)/start", StartAgentInstanceRequest(timestamp: startedAt)),
        ]
        items += spanRequests.map { Seeder.item("/agent_spans", $0) }
        switch outcome {
        case .finished(let status):
            items.append(
                Seeder.item("/agent_instance/\(id)/finish", FinishAgentInstanceRequest(status: status, timestamp: endsAt)))
        case .terminated:
            items.append(
                Seeder.item("/agent_instance/\(id)/terminate", TerminateAgentInstanceRequest(reason: "Stopped by an operator")))
        case .live:
            break
        }
        return items
    }

    /// The id of the run's `k`th span.
    func spanID(_ k: Int) -> String {
        "sp" + id.dropFirst(2) + "_" + (k < 10 ? "0" : "") + String(k)
    }

    /// The id of the root span of the run's last group (running, in a live run).
    var lastRootSpanID: String { spanID((spans - 1) / 5 * 5) }

    /// The spans, in groups of five over the run's time: a step, under it an LLM call with a tool call and a
    /// retrieval nested below, and a second LLM call. Mostly complete, some failed or cancelled; in a live run the
    /// last group is still running.
    var spanRequests: [CreateSpanRequest] {
        let groups = (spans + 4) / 5
        let window = endsAt.timeIntervalSince(startedAt) / Double(max(groups, 1))
        let margin = window / 20
        var requests: [CreateSpanRequest] = []
        requests.reserveCapacity(spans)
        for k in 0..<spans {
            let group = k / 5
            let from = startedAt.addingTimeInterval(Double(group) * window)
            let middle = from.addingTimeInterval(window / 2)
            let to = from.addingTimeInterval(window)
            let role = k % 5
            let (schema, parent, start, end): (String, Int?, Date, Date) =
                switch role {
                case 0: ("agent:step", nil, from, to)
                case 1: ("llm:chat", k - 1, from.addingTimeInterval(margin), middle)
                case 2: ("tool:call", k - 1, from.addingTimeInterval(2 * margin), middle.addingTimeInterval(-margin))
                case 3: ("retrieval:search", k - 1, from.addingTimeInterval(3 * margin), middle.addingTimeInterval(-2 * margin))
                default: ("llm:chat", k - 4, middle, to.addingTimeInterval(-margin))
                }
            let running: Bool
            if case .live = outcome { running = group == groups - 1 } else { running = false }
            let roll = (index * 31 + k * 17) % 100
            let status: AgentStatus = running ? .active : roll < 6 ? .failed : roll < 9 ? .cancelled : .complete
            requests.append(
                CreateSpanRequest(
                    agentInstanceID: id, schemaName: schema, status: status, payload: Self.payload(schema, index: index),
                    resultPayload: running ? nil : Self.result(schema, status: status, index: index, k: k), id: spanID(k),
                    parentSpanID: parent.map(spanID), startedAt: start, finishedAt: running ? nil : end))
        }
        return requests
    }

    static func payload(_ schema: String, index: Int) -> [String: JSONValue] {
        switch schema {
        case "agent:step": ["step": .string("Handle ticket \(index)"), "attempt": 1]
        case "tool:call": ["tool": "lookup_order", "arguments": ["order": .int(Int64(index))]]
        case "retrieval:search": ["query": "refund policy for damaged items", "top_k": 5]
        default: ["model": "gpt-4o-mini", "prompt": .string("Summarise ticket \(index) for the customer"), "temperature": 0.2]
        }
    }

    static func result(_ schema: String, status: AgentStatus, index: Int, k: Int) -> [String: JSONValue] {
        guard status == .complete else { return ["error": "Rate limited by the model provider"] }
        switch schema {
        case "agent:step": return ["outcome": "answered"]
        case "tool:call": return ["status": "found", "total": .int(Int64(index % 500))]
        case "retrieval:search": return ["documents": 5]
        default: return ["response": .string("The customer asks for a refund of order \(index)."), "tokens": .int(Int64(40 + k))]
        }
    }
}

/// The data the watch benchmark runs on: agents, finished runs (most long ago, some within the age-out window) and
/// live runs.
struct SeedPlan: Sendable, Hashable {
    /// Finished instances in all.
    var instances: Int
    /// Spans of the finished instances, in all.
    var spans: Int
    var agents: Int
    /// Finished instances that ended within the age-out window; seeded at every run (on a copy of the cached file),
    /// so that they are recent whenever the benchmark runs.
    var recent: Int
    var live: Int
    var liveSpans: Int
    /// The older runs ended between one hour and this long before the cached file was made.
    var history: TimeInterval = 30 * 86_400

    /// Finished instances in the cached file.
    var old: Int { instances - recent }

    static let agentNames = ["support-bot", "triage-bot", "research-bot", "billing-bot", "ops-bot", "sales-bot"]

    func agentID(_ index: Int) -> String { "agent_watch_\(index)" }

    func agentName(_ index: Int) -> String {
        index < Self.agentNames.count ? Self.agentNames[index] : "bot-\(index)"
    }

    func spans(ofInstance index: Int) -> Int {
        spans / instances + (index < spans % instances ? 1 : 0)
    }

    /// A finished run that ended at `end`.
    func finishedRun(_ index: Int, endingAt end: Date) -> SeedRun {
        let outcome: SeedRun.Outcome =
            index % 50 == 17
            ? .terminated
            : index % 10 == 3
                ? .finished(.failed)
                : index % 25 == 5
                    ? .finished(.cancelled)
                    : .finished(.complete)
        let duration = 30 + Double(index * 7_919 % 600)
        let id = "ai_w_" + String(repeating: "0", count: max(0, 6 - String(index).count)) + String(index)
        return SeedRun(
            index: index, id: id, agentID: agentID(index % agents), agentName: agentName(index % agents),
            startedAt: end.addingTimeInterval(-duration), endsAt: end, outcome: outcome, spans: spans(ofInstance: index))
    }

    /// The runs of the cached file, oldest first: they ended between `history` and one hour before `end`.
    func oldRuns(before end: Date) -> [SeedRun] {
        let span = history - 3_600
        let step = span / Double(max(old, 1))
        return (0..<old).map { index in
            let jitter = Double((index * 2_654_435_761) % 1_000) / 1_000 - 0.5
            return finishedRun(index, endingAt: end.addingTimeInterval(-history + (Double(index) + 0.5 + 0.8 * jitter) * step))
        }
    }

    /// The runs that ended within the last `window` before `now` (from 14/15 of it to 30 s ago), oldest first.
    func recentRuns(before now: Date, window: TimeInterval) -> [SeedRun] {
        let from = now.addingTimeInterval(-window * 14 / 15)
        let step = (window * 14 / 15 - 30) / Double(max(recent, 1))
        return (0..<recent).map { offset in
            finishedRun(old + offset, endingAt: from.addingTimeInterval((Double(offset) + 0.5) * step))
        }
    }

    /// Runs still going at `now`: started a few minutes ago, their last group of spans running.
    func liveRuns(at now: Date) -> [SeedRun] {
        (0..<live).map { index in
            SeedRun(
                index: index, id: "ai_w_live_\(index)", agentID: agentID(index % agents), agentName: agentName(index % agents),
                startedAt: now.addingTimeInterval(-Double(120 + 60 * index)), endsAt: now, outcome: .live, spans: liveSpans)
        }
    }

    /// The plan as JSON, to tell whether a cached file was made for it.
    var jsonValue: JSONValue {
        [
            "format": 1, "instances": .int(Int64(instances)), "spans": .int(Int64(spans)), "agents": .int(Int64(agents)),
            "recent": .int(Int64(recent)), "history_seconds": .int(Int64(history)),
        ]
    }
}

/// An error while seeding.
struct SeedError: Error, CustomStringConvertible {
    var description: String
}

/// Sends seed runs to a server as `POST /api/v1/bulk` requests in the TypeScript CLI's dialect: every item runs the
/// same store code its own request would, each in its own transaction.
struct Seeder: Sendable {
    var baseURL: String
    var token: String
    var clock: SeedClock
    /// Requests in flight at once.
    var concurrency: Int
    /// Runs per bulk request.
    var runsPerRequest = 4
    let transport = AsyncHTTPClientTransport()

    /// One item of a CLI-dialect bulk request: `POST path` with `body`.
    static func item(_ path: String, _ body: some WireRequest) -> JSONValue {
        ["method": "POST", "path": .string(path), "body": body.jsonValue]
    }

    /// Runs a seeding server on a SQLite file (its clock starting at `start`), for the duration of `body`.
    static func withServer<T: Sendable>(
        path: String, start: Date, concurrency: Int, _ body: (Seeder) async throws -> T
    ) async throws -> T {
        let clock = SeedClock(start: start)
        let server = try PrefactorAPIServer(
            configuration: ServerConfiguration(host: "127.0.0.1", port: 0, database: .file(path), token: "seed"),
            now: { clock.next() })
        return try await withTestServer(server) { running in
            try await body(Seeder(baseURL: running.baseURL, token: running.token, clock: clock, concurrency: concurrency))
        }
    }

    /// Sends one bulk request and checks that every item succeeded.
    func send(_ items: [JSONValue]) async throws {
        let body = Array(JSONText.serialize(["items": .array(items)]).utf8)
        let request = HTTPRequestSpec(
            method: "POST", url: baseURL + "/api/v1/bulk",
            headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")], body: body)
        let response = try await transport.send(request, timeout: .seconds(300))
        guard response.status == 200 else {
            throw SeedError(
                description:
                    "bulk request answered \(response.status): \(String(decoding: response.body.prefix(400), as: UTF8.self))")
        }
        let results = try JSONValue(parsing: Data(response.body))["details"]?["items"]?.arrayValue ?? []
        if let failed = results.firstIndex(where: { $0["status"]?.intValue != 200 }) {
            throw SeedError(description: "bulk item \(items[failed]["path"] ?? "?") failed: \(results[failed])")
        }
        guard results.count == items.count else {
            throw SeedError(description: "bulk request ran \(results.count) of \(items.count) items")
        }
    }

    /// Creates the plan's agents.
    ///
    /// - Returns: The API calls made.
    func createAgents(_ plan: SeedPlan) async throws -> Int {
        let items = (0..<plan.agents).map { index in
            Self.item(
                "/agent",
                CreateAgentRequest(
                    name: plan.agentName(index), description: "Seeded for the watch benchmark", id: plan.agentID(index)))
        }
        try await send(items)
        return items.count
    }

    /// Seeds runs in order of time, `runsPerRequest` per bulk request and `concurrency` requests at a time; the clock
    /// is moved to each request's latest end before it is sent.
    ///
    /// - Returns: The API calls made, and the bulk requests.
    func seed(_ runs: [SeedRun], progress: (Int) -> Void = { _ in }) async throws -> (calls: Int, requests: Int) {
        let chunks = stride(from: 0, to: runs.count, by: runsPerRequest).map {
            Array(runs[$0..<min($0 + runsPerRequest, runs.count)])
        }
        var calls = 0
        try await withThrowingTaskGroup(of: Int.self) { group in
            var inFlight = 0
            var done = 0
            for chunk in chunks {
                if inFlight >= concurrency, let finished = try await group.next() {
                    inFlight -= 1
                    done += finished
                    progress(done)
                }
                if let latest = chunk.map(\.endsAt).max() { clock.advance(to: latest) }
                let items = chunk.flatMap(\.bulkItems)
                calls += items.count
                inFlight += 1
                group.addTask {
                    try await send(items)
                    return chunk.count
                }
            }
            while let finished = try await group.next() {
                done += finished
                progress(done)
            }
        }
        return (calls, chunks.count)
    }
}

/// What is known of the cached file.
struct SeedCache {
    /// Whether the file was there already.
    var reused: Bool
    /// How long seeding it took (when it was made).
    var seconds: Double
    /// API calls it took.
    var calls: Int
    /// The file's size, in bytes.
    var bytes: Int

    static func remove(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    /// Copies a SQLite file, with its write-ahead log when there is one.
    static func copy(_ source: String, to destination: String) throws {
        remove(destination)
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: source + suffix) {
            try FileManager.default.copyItem(atPath: source + suffix, toPath: destination + suffix)
        }
    }

    static func size(_ path: String) -> Int {
        ["", "-wal"].reduce(0) { total, suffix in
            total + ((try? FileManager.default.attributesOfItem(atPath: path + suffix)[.size] as? Int) ?? 0)
        }
    }

    /// The cached file of a plan at `path`: reused when its sidecar (`path.json`) says it was made for this plan,
    /// seeded otherwise (into a temporary file renamed when complete).
    static func prepare(path: String, plan: SeedPlan, concurrency: Int, reseed: Bool) async throws -> SeedCache {
        let sidecar = path + ".json"
        if !reseed, FileManager.default.fileExists(atPath: path), let data = FileManager.default.contents(atPath: sidecar),
            let info = try? JSONValue(parsing: data), info["plan"] == plan.jsonValue
        {
            return SeedCache(
                reused: true, seconds: info["seconds"]?.doubleValue ?? 0, calls: Int(info["calls"]?.intValue ?? 0),
                bytes: size(path))
        }
        let partial = path + ".partial"
        remove(partial)
        let clock = ContinuousClock()
        let started = clock.now
        let now = Date()
        let total = plan.old
        let calls = try await Seeder.withServer(
            path: partial, start: now.addingTimeInterval(-plan.history - 86_400), concurrency: concurrency
        ) {
            seeder in
            var calls = try await seeder.createAgents(plan)
            var reported = 0
            calls += try await seeder.seed(plan.oldRuns(before: now)) { done in
                guard done - reported >= 2_000 || done == total else { return }
                reported = done
                print(
                    String(
                        format: "  seeding             %d of %d finished runs (%.0f s)", done, total,
                        (clock.now - started).seconds))
            }.calls
            return calls
        }
        let seconds = (clock.now - started).seconds
        remove(path)
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: partial + suffix) {
            try FileManager.default.moveItem(atPath: partial + suffix, toPath: path + suffix)
        }
        remove(partial)
        let info: JSONValue = [
            "plan": plan.jsonValue, "seconds": .double(seconds), "calls": .int(Int64(calls)),
            "seeded_at": .string(WireDate.format(now)),
        ]
        try Data(JSONText.serialize(info).utf8).write(to: URL(fileURLWithPath: sidecar))
        return SeedCache(reused: false, seconds: seconds, calls: calls, bytes: size(path))
    }
}
