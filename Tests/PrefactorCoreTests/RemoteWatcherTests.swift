import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// The remote watcher against the real local server: what it fetches, and how often.
@Suite("Remote watcher")
struct RemoteWatcherTests {
    /// An API client on the test server that does not retry (the watcher backs off by itself).
    static func api(_ server: TestServer) throws -> APIClient {
        var configuration = APIClient.Configuration(apiURL: server.baseURL, apiToken: server.token)
        configuration.retryPolicy = .none
        return try APIClient(configuration: configuration)
    }

    /// Registers and starts an instance.
    static func run(_ api: APIClient, id: String) async throws -> AgentInstance {
        let instance = try await api.registerAgentInstance(
            RegisterAgentInstanceRequest(agentVersion: ["name": "watched"], id: id))
        return try await api.startAgentInstance(id: instance.id)
    }

    static func span(_ api: APIClient, in instance: String, parent: String? = nil, _ schema: String = "agent:llm") async throws
        -> AgentSpan
    {
        try await api.createSpan(CreateSpanRequest(agentInstanceID: instance, schemaName: schema, parentSpanID: parent)).span
    }

    /// The span-list requests the server received, by instance id.
    static func spanListInstances(_ server: TestServer) -> [String] {
        server.requests.requests(method: "GET", pathPrefix: "/api/v1/agent_spans").compactMap { request in
            request.query?.split(separator: "&").first { $0.hasPrefix("agent_instance_id=") }.map { String($0.dropFirst(18)) }
        }
    }

    @Test("The first poll loads every live run with its spans, nested spans included")
    func firstPoll() async throws {
        try await withTestServer { server in
            let api = try Self.api(server)
            let run = try await Self.run(api, id: "ai_live")
            let parent = try await Self.span(api, in: run.id)
            let child = try await Self.span(api, in: run.id, parent: parent.id, "agent:tool")
            let watcher = RemoteWatcher(api: api)
            let changes = try await watcher.poll()
            #expect(changes.instances.map(\.id) == ["ai_live"])
            #expect(Set(changes.spans.map(\.id)) == [parent.id, child.id])
            #expect(changes.spans.first { $0.id == child.id }?.parentSpanID == parent.id)
            #expect(changes.loadedInstances == ["ai_live"])
            #expect(changes.agents.count == 1)
            try await api.shutdown()
        }
    }

    @Test("A quiet API costs one request per poll and returns no changes")
    func quietPolls() async throws {
        try await withTestServer { server in
            let api = try Self.api(server)
            let run = try await Self.run(api, id: "ai_quiet")
            _ = try await Self.span(api, in: run.id)
            let watcher = RemoteWatcher(api: api)
            _ = try await watcher.poll()
            _ = try await watcher.poll()
            server.requests.reset()
            for _ in 0..<3 {
                let changes = try await watcher.poll()
                #expect(changes.isEmpty)
            }
            #expect(server.requests.totalCount == 3)
            #expect(server.requests.requests.allSatisfy { $0.path == "/api/v1/agent" })
            try await api.shutdown()
        }
    }

    @Test("Only what changed is fetched again: one changed span in one of two runs")
    func onlyChangesAreFetched() async throws {
        try await withTestServer { server in
            let api = try Self.api(server)
            let first = try await Self.run(api, id: "ai_first")
            let second = try await Self.run(api, id: "ai_second")
            let changing = try await Self.span(api, in: first.id)
            _ = try await Self.span(api, in: first.id, "agent:tool")
            _ = try await Self.span(api, in: second.id)
            let watcher = RemoteWatcher(api: api)
            _ = try await watcher.poll()
            _ = try await watcher.poll()
            _ = try await api.finishSpan(id: changing.id, status: .failed)
            server.requests.reset()
            let changes = try await watcher.poll()
            #expect(changes.spans.map(\.id) == [changing.id])
            #expect(changes.spans.first?.status == .failed)
            #expect(changes.instances.map(\.id) == [first.id])
            #expect(Self.spanListInstances(server) == [first.id])
            // Agents, that agent's instances, that instance's spans.
            #expect(server.requests.totalCount == 3)
            // The change is not fetched a second time.
            server.requests.reset()
            let after = try await watcher.poll()
            #expect(after.spans.isEmpty && after.instances.isEmpty)
            #expect(Self.spanListInstances(server).isEmpty)
            try await api.shutdown()
        }
    }

    @Test("A new run started after the first poll is found with its spans")
    func newRunAppears() async throws {
        try await withTestServer { server in
            let api = try Self.api(server)
            _ = try await Self.run(api, id: "ai_old")
            let watcher = RemoteWatcher(api: api)
            _ = try await watcher.poll()
            _ = try await watcher.poll()
            let run = try await Self.run(api, id: "ai_new")
            let span = try await Self.span(api, in: run.id)
            let changes = try await watcher.poll()
            #expect(changes.instances.map(\.id) == ["ai_new"])
            #expect(changes.spans.map(\.id) == [span.id])
            try await api.shutdown()
        }
    }

    @Test("Spans beyond one page are all loaded, and not fetched again")
    func manySpans() async throws {
        try await withTestServer { server in
            let api = try Self.api(server)
            let run = try await Self.run(api, id: "ai_many")
            var ids: Set<String> = []
            for _ in 0..<230 { ids.insert(try await Self.span(api, in: run.id).id) }
            let watcher = RemoteWatcher(api: api)
            let changes = try await watcher.poll()
            #expect(Set(changes.spans.map(\.id)) == ids)
            #expect(changes.spans.count == 230)
            let again = try await watcher.poll()
            #expect(again.spans.isEmpty)
            try await api.shutdown()
        }
    }

    @Test("Runs finished before the first poll are listed but their spans are fetched only on demand")
    func finishedRunsLoadOnDemand() async throws {
        try await withTestServer { server in
            let api = try Self.api(server)
            let run = try await Self.run(api, id: "ai_done")
            let span = try await Self.span(api, in: run.id)
            _ = try await api.finishSpan(id: span.id)
            _ = try await api.finishAgentInstance(id: run.id, status: .complete)
            let watcher = RemoteWatcher(api: api)
            let changes = try await watcher.poll()
            #expect(changes.instances.map(\.id) == ["ai_done"])
            #expect(changes.spans.isEmpty)
            #expect(changes.loadedInstances.isEmpty)
            #expect(Self.spanListInstances(server).isEmpty)
            let loaded = try #require(await watcher.loadSpans(instanceID: "ai_done"))
            #expect(loaded.spans.map(\.id) == [span.id])
            #expect(loaded.loadedInstances == ["ai_done"])
            try await api.shutdown()
        }
    }

    @Test("Finished runs older than the age-out time are not loaded at start")
    func ageOutAtStart() async throws {
        try await withTestServer { server in
            let api = try Self.api(server)
            let old = try await Self.run(api, id: "ai_aged")
            _ = try await api.finishAgentInstance(id: old.id, status: .complete)
            _ = try await Self.run(api, id: "ai_running")
            // Everything is older than a zero age-out, but live runs always count.
            let watcher = RemoteWatcher(api: api, options: WatchOptions(ageOut: .zero))
            let changes = try await watcher.poll()
            #expect(changes.instances.map(\.id) == ["ai_running"])
            try await api.shutdown()
        }
    }

    @Test("At most maxFinished finished runs are loaded at start, the newest")
    func maxFinishedAtStart() async throws {
        try await withTestServer { server in
            let api = try Self.api(server)
            for index in 0..<4 {
                let run = try await Self.run(api, id: "ai_f\(index)")
                _ = try await api.finishAgentInstance(id: run.id, status: .complete)
            }
            let watcher = RemoteWatcher(api: api, options: WatchOptions(maxFinished: 2))
            let changes = try await watcher.poll()
            #expect(Set(changes.instances.map(\.id)) == ["ai_f2", "ai_f3"])
            try await api.shutdown()
        }
    }

    @Test("At start, at most maxFinished finished runs are reported in all, the newest, whatever their agent")
    func maxFinishedAcrossAgents() async throws {
        try await withTestServer { server in
            let api = try Self.api(server)
            let other = try await api.createAgent(CreateAgentRequest(name: "other"))
            for index in 0..<4 {
                let instance = try await api.registerAgentInstance(
                    RegisterAgentInstanceRequest(
                        agentVersion: ["name": "watched"], agentID: index % 2 == 0 ? nil : other.id, id: "ai_f\(index)"))
                _ = try await api.startAgentInstance(id: instance.id)
                _ = try await api.finishAgentInstance(id: instance.id, status: .complete)
            }
            _ = try await Self.run(api, id: "ai_live")
            let watcher = RemoteWatcher(api: api, options: WatchOptions(maxFinished: 2))
            let changes = try await watcher.poll()
            #expect(Set(changes.instances.map(\.id)) == ["ai_f2", "ai_f3", "ai_live"])
            try await api.shutdown()
        }
    }

    @Test("A failing poll throws, changes no cursor, and the next poll catches up")
    func failedPoll() async throws {
        try await withTestServer { server in
            let api = try Self.api(server)
            let run = try await Self.run(api, id: "ai_flaky")
            let watcher = RemoteWatcher(api: api)
            _ = try await watcher.poll()
            _ = try await watcher.poll()
            server.faults.add(FaultRule(method: "GET", path: "/api/v1/agent_spans", status: 503, count: 1))
            let made = try await Self.span(api, in: run.id)
            await #expect(throws: PrefactorHTTPError.self) { try await watcher.poll() }
            let changes = try await watcher.poll()
            #expect(changes.spans.map(\.id) == [made.id])
            try await api.shutdown()
        }
    }

    @Test("Failures back off by doubling up to the maximum, and a success resets them")
    func backoff() async throws {
        try await withTestServer { server in
            let api = try Self.api(server)
            let watcher = RemoteWatcher(
                api: api, options: WatchOptions(interval: .milliseconds(10), maxBackoff: .milliseconds(60)))
            #expect(await watcher.backoff(afterFailures: 1) == .milliseconds(20))
            #expect(await watcher.backoff(afterFailures: 2) == .milliseconds(40))
            #expect(await watcher.backoff(afterFailures: 5) == .milliseconds(60))
            server.faults.add(FaultRule(method: "GET", path: "/api/v1/agent", status: 503, count: 3))
            let task = Task { await watcher.run() }
            var failures: [Int] = []
            var recovered = false
            for await event in watcher.events {
                switch event {
                case .failed(let message, let count, _):
                    #expect(message.contains("503"))
                    failures.append(count)
                case .changes:
                    recovered = true
                case .checked, .gone:
                    break
                }
                if recovered { break }
            }
            task.cancel()
            #expect(failures == [1, 2, 3])
            #expect(recovered)
            try await api.shutdown()
        }
    }
}

@Suite("Remote watcher: prompt polls and vanished runs")
struct RemoteWatcherPromptTests {
    @Test func changingTheIntervalPollsAtOnce() async throws {
        try await withTestServer { server in
            let api = try APIClient(configuration: .init(apiURL: server.baseURL, apiToken: server.token, retryPolicy: .none))
            // A poll every hour: only the change of interval can bring the second one.
            let watcher = RemoteWatcher(api: api, options: WatchOptions(interval: .seconds(3600)))
            let task = Task { await watcher.run() }
            var events = watcher.events.makeAsyncIterator()
            guard case .changes = await events.next() else { Issue.record("no first poll"); return }
            await watcher.setInterval(.seconds(1))
            guard case .changes = await events.next() else { Issue.record("no poll after the change"); return }
            task.cancel()
            try await api.shutdown()
        }
    }

    @Test func aRunTheAPINoLongerHasIsReportedGone() async throws {
        try await withTestServer { server in
            let api = try APIClient(configuration: .init(apiURL: server.baseURL, apiToken: server.token, retryPolicy: .none))
            let watcher = RemoteWatcher(api: api)
            #expect(await watcher.loadSpans(instanceID: "ai_vanished") == nil)
            var events = watcher.events.makeAsyncIterator()
            let event = await events.next()
            #expect(event == .gone(instanceID: "ai_vanished", reason: "the API no longer has this run (HTTP 404)"))
            try await api.shutdown()
        }
    }
}
