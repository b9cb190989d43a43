import ArgumentParser
import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorTUI
import PrefactorWire
import Synchronization

/// An ``HTTPTransport`` on AsyncHTTPClient that records every exchange: when it started and ended, and the bytes of
/// the response body.
final class RecordingTransport: HTTPTransport {
    struct Exchange: Sendable {
        var start: ContinuousClock.Instant
        var end: ContinuousClock.Instant
        var received: Int
    }

    private let base = AsyncHTTPClientTransport()
    private let log = Mutex<[Exchange]>([])

    func send(_ request: HTTPRequestSpec, timeout: Duration) async throws(PrefactorHTTPError) -> HTTPResponseData {
        let start = ContinuousClock.now
        let response = try await base.send(request, timeout: timeout)
        let exchange = Exchange(start: start, end: .now, received: response.body.count)
        log.withLock { $0.append(exchange) }
        return response
    }

    func shutdown() async throws {
        try await base.shutdown()
    }

    /// The exchanges so far, in order of their start.
    var exchanges: [Exchange] { log.withLock { $0 }.sorted { $0.start < $1.start } }
}

/// One poll of the watcher, found in its request timeline: requests closer together than the pause between polls.
struct Poll {
    var start: ContinuousClock.Instant
    var end: ContinuousClock.Instant
    var requests: Int
    var received: Int

    var latency: Duration { end - start }

    /// The polls of a timeline: a new one starts wherever a request starts more than `gap` after the previous ended.
    static func split(_ exchanges: [RecordingTransport.Exchange], gap: Duration) -> [Poll] {
        var polls: [Poll] = []
        for exchange in exchanges {
            if var last = polls.last, exchange.start - last.end < gap {
                last.end = max(last.end, exchange.end)
                last.requests += 1
                last.received += exchange.received
                polls[polls.count - 1] = last
            } else {
                polls.append(Poll(start: exchange.start, end: exchange.end, requests: 1, received: exchange.received))
            }
        }
        return polls
    }
}

/// The time to the first full frame of the remote view, and what the watcher then costs the API.
struct WatchBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Time to the first full frame of the remote view on a large server, and the watcher's steady requests/s.",
        discussion: """
            Seeds a SQLite file (kept at --db and reused while it matches the options) with finished runs spread over \
            the past 30 days through the local server's bulk endpoint, with a server clock set in the past. Each run \
            copies it, adds the runs that ended within the 15-minute age-out window and a few live runs (so they are \
            recent whatever the file's age), starts the server on the copy in this process, and measures: the first \
            poll applied to the model and one 200x60 frame; then the watcher's own polling loop (1 s interval) for \
            --seconds while a small workload changes the live runs, and for --seconds with no workload.
            """)

    @Option(help: "The cached SQLite file; made when missing or made for other options.")
    var db = FileManager.default.temporaryDirectory.appendingPathComponent("prefactor-watch-benchmark.sqlite").path

    @Option(help: "Finished instances.") var instances = 10_000
    @Option(help: "Spans of the finished instances, in all (nested in groups of five).") var spans = 200_000
    @Option(help: "Agents the instances are spread over.") var agents = 4
    @Option(help: "Finished instances that ended within the age-out window (of --instances).") var recent = 300
    @Option(help: "Live instances.") var live = 5
    @Option(help: "Spans of each live instance.") var liveSpans = 12
    @Option(help: "Seconds of each steady-state phase (live workload, then quiet).") var seconds = 10.0
    @Option(help: "Spans per second the live workload creates (each also finished on its run's next turn).") var rate = 5.0
    @Option(help: "First frames to measure (each with a new watcher and model).") var frames = 5
    @Option(help: "Bulk requests in flight while seeding.") var concurrency = 4
    @Flag(help: "Seed the cached file again even if it matches.") var reseed = false

    func validate() throws {
        guard instances > 0, spans >= 0, agents > 0, live > 0, liveSpans > 0, frames > 0, concurrency > 0 else {
            throw ValidationError("--instances, --agents, --live, --live-spans, --frames and --concurrency must be positive")
        }
        guard (0...instances).contains(recent) else { throw ValidationError("--recent must be between 0 and --instances") }
        guard seconds > 0, rate > 0 else { throw ValidationError("--seconds and --rate must be positive") }
    }

    var plan: SeedPlan {
        SeedPlan(instances: instances, spans: spans, agents: agents, recent: recent, live: live, liveSpans: liveSpans)
    }

    func run() async throws {
        let loadBefore = Self.loadAverage()
        let plan = self.plan
        let options = WatchOptions()
        print(
            "tui watch benchmark: \(instances) finished instances (\(recent) ended within the \(Int(options.ageOut.seconds / 60)) min "
                + "age-out window), \(spans) spans, \(agents) agents, \(live) live instances; SQLite file, server in this process"
        )
        let cache = try await SeedCache.prepare(path: db, plan: plan, concurrency: concurrency, reseed: reseed)
        print(
            "  seeding             \(cache.reused ? "reused" : "made") \(db): "
                + String(
                    format: "seeded in %.1f s (%d API calls in bulk requests), %.0f MB", cache.seconds, cache.calls,
                    Double(cache.bytes) / 1_048_576))

        let work = db + ".run-\(getpid())"
        defer { SeedCache.remove(work) }
        let clock = ContinuousClock()
        let copyStart = clock.now
        try SeedCache.copy(db, to: work)
        let copied = clock.now - copyStart
        let now = Date()
        let liveRuns = plan.liveRuns(at: now.addingTimeInterval(-5))
        let topUpStart = clock.now
        let topUp = try await Seeder.withServer(
            path: work, start: now.addingTimeInterval(-options.ageOut.seconds), concurrency: concurrency
        ) {
            seeder in
            try await seeder.seed(plan.recentRuns(before: now, window: options.ageOut.seconds) + liveRuns)
        }
        print(
            String(
                format: "  recent + live runs  seeded in %.1f s on a copy (copied in %.1f s): %d API calls in %d bulk requests",
                (clock.now - topUpStart).seconds, copied.seconds, topUp.calls, topUp.requests))

        try await withTestServer(token: "bench", database: .file(work)) { server in
            try await measure(server: server, liveRuns: liveRuns, options: options)
        }
        let loadAfter = Self.loadAverage()
        print(
            "  load average        \(loadBefore) at start, \(loadAfter) at end (\(ProcessInfo.processInfo.activeProcessorCount) cores)"
        )
    }

    /// An API client on the server that does not retry (the watcher backs off by itself), through `transport`.
    static func api(_ server: TestServer, transport: (any HTTPTransport)? = nil) throws -> APIClient {
        var configuration = APIClient.Configuration(apiURL: server.baseURL, apiToken: server.token)
        configuration.retryPolicy = .none
        return try APIClient(configuration: configuration, transport: transport)
    }

    /// Builds a frame as the terminal UI does before presenting one.
    static func present(_ model: inout AppModel, theme: Theme) -> CellBuffer {
        let geometry = Geometry(for: model)
        model.refreshRows()
        model.treeRowsVisible =
            model.rows.count > geometry.bodyHeight ? max(1, geometry.bodyHeight - 1) : max(1, geometry.bodyHeight)
        if model.follow { model.followNewest() }
        model.clampScroll()
        return Layout(model: model, theme: theme).render()
    }

    /// A new watcher and model, as the UI makes them.
    struct Watch {
        var recorder: RecordingTransport
        var api: APIClient
        var watcher: RemoteWatcher
        var model: AppModel
    }

    /// What it took to show the first full frame.
    struct FirstFrame {
        var total: Duration
        var poll: Duration
        var apply: Duration
        var render: Duration
        var requests: Int
        var received: Int
        var runs: Int
        var spans: Int
        var rows: Int
        var agedOut: Int
    }

    func firstFrame(server: TestServer, options: WatchOptions, theme: Theme) async throws -> (FirstFrame, Watch) {
        let clock = ContinuousClock()
        let start = clock.now
        let recorder = RecordingTransport()
        let api = try Self.api(server, transport: recorder)
        let watcher = RemoteWatcher(api: api, options: options)
        var model = AppModel(apiURL: server.baseURL, readonly: true, now: Date())
        model.remote = RemoteView(ageOut: options.ageOut.seconds, maxFinished: options.maxFinished)
        model.width = 200
        model.height = 60
        let changes = try await watcher.poll()
        let polled = clock.now
        model.now = Date()
        let removed = model.apply(.changes(changes))
        let applied = clock.now
        let frame = Self.present(&model, theme: theme)
        let end = clock.now
        precondition(frame.width == 200 && frame.height == 60)
        for id in removed { await watcher.forget(instanceID: id) }
        let exchanges = recorder.exchanges
        let result = FirstFrame(
            total: end - start, poll: polled - start, apply: applied - polled, render: end - applied, requests: exchanges.count,
            received: exchanges.reduce(0) { $0 + $1.received }, runs: model.tree.instances.count, spans: model.tree.spanCount,
            rows: model.rows.count, agedOut: removed.count)
        return (result, Watch(recorder: recorder, api: api, watcher: watcher, model: model))
    }

    /// What one steady-state phase cost.
    struct Phase {
        var name: String
        var elapsed: Duration
        var watcherRequests: Int
        var serverRequests: Int
        var workloadRequests: Int
        var workloadErrors: Int
        var polls: [Poll]
    }

    /// Keeps the live runs busy until cancelled: `rate` spans a second, round robin over the runs, each created
    /// running under the run's open step and finished on the run's next turn.
    ///
    /// - Returns: Requests made, and how many failed.
    static func workload(api: APIClient, runs: [SeedRun], rate: Double) async -> (requests: Int, errors: Int) {
        let clock = ContinuousClock()
        var open: [String: String] = [:]
        var requests = 0
        var errors = 0
        var next = clock.now
        for turn in 0... {
            let run = runs[turn % runs.count]
            do {
                if let previous = open.removeValue(forKey: run.id) {
                    requests += 1
                    _ = try await api.finishSpan(
                        id: previous, status: turn % 7 == 0 ? .failed : .complete,
                        resultPayload: ["response": "ok", "tokens": 42])
                }
                requests += 1
                let created = try await api.createSpan(
                    CreateSpanRequest(
                        agentInstanceID: run.id, schemaName: "llm:chat",
                        payload: ["model": "gpt-4o-mini", "turn": .int(Int64(turn))],
                        parentSpanID: run.lastRootSpanID))
                open[run.id] = created.span.id
            } catch {
                // A request cut short by the end of the phase is not a failure.
                if Task.isCancelled { break }
                errors += 1
            }
            next += .seconds(1 / rate)
            do { try await Task.sleep(until: next, clock: clock) } catch { break }
        }
        return (requests, errors)
    }

    func phase(
        _ name: String, server: TestServer, watch: Watch, workload: (api: APIClient, runs: [SeedRun])?
    ) async -> Phase {
        let clock = ContinuousClock()
        let watcherBefore = await watch.watcher.requestCount
        let serverBefore = server.requests.totalCount
        let start = clock.now
        let rate = self.rate
        let task = workload.map { workload in Task { await Self.workload(api: workload.api, runs: workload.runs, rate: rate) } }
        try? await Task.sleep(for: .seconds(seconds))
        task?.cancel()
        let done = await task?.value ?? (requests: 0, errors: 0)
        let end = clock.now
        let watcherRequests = await watch.watcher.requestCount - watcherBefore
        let serverRequests = server.requests.totalCount - serverBefore
        let polls = Poll.split(watch.recorder.exchanges, gap: watch.watcher.options.interval / 2).filter {
            $0.start >= start && $0.start < end
        }
        return Phase(
            name: name, elapsed: end - start, watcherRequests: watcherRequests, serverRequests: serverRequests - done.requests,
            workloadRequests: done.requests, workloadErrors: done.errors, polls: polls)
    }

    func measure(server: TestServer, liveRuns: [SeedRun], options: WatchOptions) async throws {
        let clock = ContinuousClock()
        let theme = Theme()

        // What the server holds.
        let check = try Self.api(server)
        var held = (instances: 0, live: 0, spans: 0)
        var offset = 0
        while true {
            let page = try await check.listAgentInstances(page: PageRequest(offset: offset, pageSize: 100, sorting: "id"))
            for instance in page.items {
                held.instances += 1
                if instance.status == .active || instance.status == .pending { held.live += 1 }
                held.spans += instance.spanCounts?.total ?? 0
            }
            offset += page.items.count
            if page.items.count < 100 { break }
        }
        print("  server holds        \(held.instances - held.live) finished and \(held.live) live instances, \(held.spans) spans")

        // (1) The first full frame: first poll, applied to the model, one frame at 200x60.
        var results: [FirstFrame] = []
        var watch: Watch?
        for _ in 0..<frames {
            if let previous = watch { try await previous.api.shutdown() }
            let (result, made) = try await firstFrame(server: server, options: options, theme: theme)
            results.append(result)
            watch = made
        }
        guard var watch else { return }
        let first = results[0]
        print(
            String(
                format:
                    "  first frame         %.1f ms: first poll %.1f ms (%d requests, %.0f KB), apply %.1f ms, frame 200x60 %.1f ms",
                first.total.seconds * 1000, first.poll.seconds * 1000, first.requests, Double(first.received) / 1024,
                first.apply.seconds * 1000, first.render.seconds * 1000))
        print(
            "                      in view: \(first.runs) runs (\(first.agedOut) more loaded and aged out at once), "
                + "\(first.spans) spans, \(first.rows) rows")
        let totals = results.map(\.total).sorted()
        print(
            String(
                format: "  first frame again   median %.1f ms, worst %.1f ms of %d (new watcher and model each time)",
                totals[totals.count / 2].seconds * 1000, totals.last!.seconds * 1000, totals.count))

        // The second poll lists every agent again (each agent's instances from its own cursor).
        let secondStart = clock.now
        let exchangesBefore = watch.recorder.exchanges.count
        let second = try await watch.watcher.poll()
        let secondTime = clock.now - secondStart
        watch.model.now = Date()
        watch.model.apply(.changes(second))
        print(
            String(
                format: "  second poll         %.1f ms, %d requests", secondTime.seconds * 1000,
                watch.recorder.exchanges.count - exchangesBefore))

        // (2) The watcher's own loop, with the model applying what it reports and building a frame each time, as the
        // UI does.
        let watcher = watch.watcher
        let consumer = Task { [model = watch.model] in
            var model = model
            var times: [Duration] = []
            for await event in watcher.events {
                let start = ContinuousClock.now
                model.now = Date()
                let removed = model.apply(event)
                _ = Self.present(&model, theme: theme)
                times.append(.now - start)
                for id in removed { await watcher.forget(instanceID: id) }
            }
            return (model, times)
        }
        let polling = Task { await watcher.run() }
        let workloadAPI = try Self.api(server)
        let busy = await phase("live", server: server, watch: watch, workload: (workloadAPI, liveRuns))
        // Let the last changes of the workload be polled before the quiet phase.
        try await Task.sleep(for: options.interval * 2)
        let quiet = await phase("quiet", server: server, watch: watch, workload: nil)
        for phase in [busy, quiet] { report(phase) }

        // (3) Opening a finished run: its spans are loaded on demand.
        let model = watch.model
        let closed = model.tree.remoteInstances.filter { !model.tree.loadedRemoteInstances.contains($0) }.sorted().prefix(20)
        var opens: [Duration] = []
        for id in closed {
            let start = clock.now
            guard await watcher.loadSpans(instanceID: id) != nil else { continue }
            opens.append(clock.now - start)
        }
        polling.cancel()
        await polling.value
        let (_, applied) = await consumer.value
        opens.sort()
        if !opens.isEmpty {
            print(
                String(
                    format: "  open a finished run median %.1f ms, worst %.1f ms (%d runs, spans loaded on demand)",
                    opens[opens.count / 2].seconds * 1000, opens.last!.seconds * 1000, opens.count))
        }
        let sorted = applied.sorted()
        print(
            String(
                format: "  apply + frame       median %.2f ms, p99 %.2f ms per watcher event (%d events)",
                percentile(sorted, 0.5), percentile(sorted, 0.99), sorted.count))
        try await workloadAPI.shutdown()
        try await check.shutdown()
        try await watch.api.shutdown()
    }

    func percentile(_ sorted: [Duration], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))].seconds * 1000
    }

    func report(_ phase: Phase) {
        let seconds = phase.elapsed.seconds
        let latencies = phase.polls.map(\.latency).sorted()
        let requestsPerPoll = Double(phase.polls.reduce(0) { $0 + $1.requests }) / Double(max(phase.polls.count, 1))
        let received = Double(phase.polls.reduce(0) { $0 + $1.received })
        let name = "\(phase.name), \(Int(seconds.rounded())) s"
        print(
            "  " + name.padding(toLength: 20, withPad: " ", startingAt: 0)
                + String(
                    format: "%.2f requests/s (watcher %d, server %d), %d polls, %.1f requests/poll, %.1f KB/s received",
                    Double(phase.watcherRequests) / seconds, phase.watcherRequests, phase.serverRequests, phase.polls.count,
                    requestsPerPoll, received / 1024 / seconds))
        print(
            String(
                format: "                      poll latency p50 %.1f ms, p99 %.1f ms", percentile(latencies, 0.5),
                percentile(latencies, 0.99))
                + (phase.workloadRequests > 0
                    ? String(
                        format: "; workload %.1f requests/s on %d live runs (%d failed)",
                        Double(phase.workloadRequests) / seconds, live, phase.workloadErrors) : ""))
    }

    /// The 1, 5 and 15 minute load averages.
    static func loadAverage() -> String {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "unknown" }
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }
}
