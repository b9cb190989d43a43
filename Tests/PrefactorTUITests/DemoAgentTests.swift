import Foundation
import PrefactorCore
import PrefactorDemo
import PrefactorHTTP
import PrefactorServerTesting
import PrefactorWire
import Synchronization
import Testing

@Suite("Demo agent")
struct DemoAgentTests {
    @Test func aTerminatedRunStopsAtOnceAndSaysSo() async throws {
        try await withTestServer { server in
            var configuration = coreConfiguration(server)
            configuration.schemaRegistry = DemoAgent.schemaRegistry
            let client = try PrefactorClient(configuration: configuration)
            let agent = DemoAgent(client: client, concurrency: 1, speed: 2)
            let notices = Notices()
            let collector = Task { for await notice in agent.notices { notices.add(notice) } }
            defer { collector.cancel() }
            let inspector = try APIClient(
                configuration: .init(apiURL: server.baseURL, apiToken: server.token, retryPolicy: .none))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.run() }
                group.addTask { await agent.run() }

                // A run with a span on the server that the demo is still running: on a loaded machine the server may
                // see a run's first span only after the demo has finished it locally (its finish still queued), and
                // a run the client has finished is no longer watched for termination.
                var runID = ""
                try await eventually("a run with a span, still running") {
                    let running = Set(client.snapshot().instances.filter { $0.phase == .active }.map(\.id))
                    let active = try await inspector.listAgentInstances(status: .active).items
                    guard let run = active.first(where: { running.contains($0.id) }) else { return false }
                    runID = run.id
                    return try await !inspector.listSpans(instanceID: run.id).items.isEmpty
                }
                _ = try await inspector.terminateAgentInstance(id: runID, reason: "enough")
                let expected = "run \(runID) was terminated by an operator; stopped it (open spans cancelled)"
                try await eventually("the demo says it stopped the run") { notices.contains(expected) }
                // Once the demo has moved on to its next run, nothing more was added to the terminated one.
                let spansAtNotice = client.snapshot().spans.count { $0.instanceID == runID }
                try await eventually("the next run has a span") {
                    let active = try await inspector.listAgentInstances(status: .active).items.filter { $0.id != runID }
                    guard let next = active.first else { return false }
                    return try await !inspector.listSpans(instanceID: next.id).items.isEmpty
                }
                #expect(client.snapshot().spans.count { $0.instanceID == runID } == spansAtNotice)
                #expect(client.snapshot().spans.filter { $0.instanceID == runID }.allSatisfy { $0.phase.isFinished })
                await agent.stopAndWait()
                let report = await client.shutdown()
                #expect(report.undelivered.isEmpty)
                #expect(
                    try await inspector.listAgentInstances(status: .active).items.isEmpty, "stopping cancels the run in progress")
                group.cancelAll()
                try? await inspector.shutdown()
            }
        }
    }
}

/// What the demo said, kept for the test.
final class Notices: Sendable {
    private let items = Mutex<[String]>([])

    func add(_ notice: String) { items.withLock { $0.append(notice) } }

    func contains(_ notice: String) -> Bool { items.withLock { $0.contains(notice) } }
}
