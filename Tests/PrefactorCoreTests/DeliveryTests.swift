import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Synchronization
import Testing

/// Guarantee 3: nothing is lost silently. Transient failures are retried, shutdown drains, a deadline reports the
/// exact undelivered operations, a permanent failure stays with its operation and dependents, 401/403 pauses
/// delivery without losing the queue, and a 409 on finishing something finished is a success.
@Suite(.timeLimit(.minutes(1)))
struct DeliveryTests {
    @Test func transientFailuresAreRetriedUntilDelivered() async throws {
        try await withTestServer { server in
            let ((instanceID, recorder), report) = try await withRunningClient(coreConfiguration(server)) { client in
                let recorder = EventRecorder(client.events())
                let run = try await registerInstance(client)
                server.faults.add(FaultRule(method: "POST", path: spansPath, status: 503, count: 3))
                server.faults.add(FaultRule(method: "POST", path: spansPath + "/*/finish", count: 2, dropConnection: true))
                let span = try await run.createSpan(schemaName: "agent:flaky")
                try await run.finishSpan(span)
                try await eventually("the span is delivered") {
                    client.spanManager.span(withID: span)?.finishDelivered == true
                }
                return (run.id, recorder)
            }
            let events = await recorder.finished()
            #expect(report.isComplete)
            #expect(report.deliveredCount == 2)
            let spans = try await serverSpans(server, instanceID: instanceID)
            #expect(spans.map(\.status) == [.complete], "one span, despite five failed attempts")
            let creates = server.posts(spansPath).filter(isSpanCreate).map(\.status)
            #expect(creates == [503, 503, 503, 200])
            let finishes = server.posts(spansPath).filter { isSpanFinish($0) }.map(\.status)
            #expect(finishes == [0, 0, 200], "two dropped connections, then delivered")
            let attempts = events.compactMap { event -> Int? in
                if case .operationDelivered(_, let attempts) = event { return attempts }
                return nil
            }
            #expect(attempts == [4, 3])
            let retries = events.filter { if case .operationRetrying = $0 { true } else { false } }
            #expect(retries.count == 5)
            let health = events.compactMap { event -> APIHealth? in
                if case .healthChanged(let health) = event { return health }
                return nil
            }
            #expect(health == [.retrying, .ok, .unreachable, .ok])
        }
    }

    @Test func shutdownDrainsTheQueue() async throws {
        try await withTestServer { server in
            server.faults.add(FaultRule(method: "POST", path: "/api/v1/agent_spans*", latencyMilliseconds: 50))
            let (instanceID, report) = try await withRunningClient(coreConfiguration(server)) { client in
                let run = try await registerInstance(client)
                try await run.start()
                for index in 0..<20 {
                    let span = try await run.createSpan(schemaName: "agent:s\(index)")
                    try await run.finishSpan(span)
                }
                try await run.finish()
                #expect(client.snapshot().queue.depth > 0, "work is still queued when shutdown begins")
                return run.id
            }
            #expect(report.isComplete)
            #expect(report.deliveredCount == 42)
            let spans = try await serverSpans(server, instanceID: instanceID)
            #expect(spans.count == 20)
            #expect(spans.allSatisfy { $0.status == .complete })
            #expect(try await inspector(server).agentInstance(id: instanceID).status == .complete)
        }
    }

    @Test func withPrefactorClientDrainsTheQueue() async throws {
        try await withTestServer { server in
            server.faults.add(FaultRule(method: "POST", path: "/api/v1/agent_spans*", latencyMilliseconds: 20))
            let instanceID = try await withPrefactorClient(configuration: coreConfiguration(server)) { client in
                let run = try await registerInstance(client)
                try await run.start()
                for index in 0..<10 {
                    try await run.span("agent:s\(index)") { _ in }
                }
                try await run.finish()
                return run.id
            }
            let spans = try await serverSpans(server, instanceID: instanceID)
            #expect(spans.count == 10)
            #expect(spans.allSatisfy { $0.status == .complete })
            #expect(try await inspector(server).agentInstance(id: instanceID).status == .complete)
        }
    }

    @Test func aDrainDeadlineReportsExactlyWhatWasNotDelivered() async throws {
        try await withTestServer { server in
            let configuration = coreConfiguration(server, drainTimeout: .milliseconds(300))
            let ((pending, instanceID), report) = try await withRunningClient(configuration) { client in
                let run = try await client.createAgentInstance(
                    agentVersion: testAgentVersion, agentSchemaVersion: qualitySchemaVersion)
                try await run.start()
                try await run.recordQuality(name: "accuracy", payload: ["score": 1])
                try await eventually("start and quality are delivered") { client.snapshot().queue.delivered == 2 }
                server.faults.add(FaultRule(method: "POST", path: spansPath, status: 503))
                let finished = try await run.createSpan(schemaName: "agent:finished")
                try await run.finishSpan(finished)
                _ = try await run.createSpan(schemaName: "agent:open")
                try await run.finish()
                try await eventually("a create is being retried") { client.snapshot().queue.retrying > 0 }
                return (client.snapshot().operations.map(\.operation), run.id)
            }
            #expect(!report.isComplete)
            #expect(report.failed.isEmpty)
            #expect(report.deliveredCount == 2)
            #expect(report.undelivered == pending, "exactly the queued operations, in order")
            #expect(report.undelivered.map(\.kind) == [.createSpan, .finishSpan, .createSpan, .finishInstance])
            // The server never got the spans, and the instance is still active.
            #expect(try await serverSpans(server, instanceID: instanceID).isEmpty)
            #expect(try await inspector(server).agentInstance(id: instanceID).status == .active)
        }
    }

    @Test func withPrefactorClientThrowsTheUndeliveredReport() async throws {
        try await withTestServer { server in
            let configuration = coreConfiguration(server, drainTimeout: .milliseconds(200))
            let spanID = UUIDBox()
            do {
                _ = try await withPrefactorClient(configuration: configuration) { client in
                    let run = try await registerInstance(client)
                    server.faults.add(FaultRule(method: "POST", path: spansPath, status: 503))
                    spanID.set(try await run.createSpan(schemaName: "agent:stuck"))
                    return 1
                }
                Issue.record("withPrefactorClient should throw")
            } catch let error as PrefactorError {
                #expect(error.code == .undelivered)
                let report = try #require(error.report)
                #expect(report.undelivered.map(\.kind) == [.createSpan])
                #expect(report.undelivered.first?.spanID == spanID.value)
                #expect(report.failed.isEmpty)
            }
        }
    }

    @Test func aPermanentFailureAffectsOnlyItsOperationAndThoseThatRequireIt() async throws {
        try await withTestServer { server in
            let ((instanceID, local), report) = try await withRunningClient(coreConfiguration(server)) { client in
                let run = try await registerInstance(client)
                try await run.start()
                try await eventually("the start is delivered") { client.snapshot().queue.depth == 0 }
                server.faults.add(FaultRule(method: "POST", path: spansPath, status: 422, count: 1))
                let doomed = try await run.createSpan(schemaName: "agent:doomed")
                let child = try await run.createSpan(schemaName: "agent:doomed-child", parentSpanID: doomed)
                try await run.finishSpan(child)
                try await run.finishSpan(doomed)
                try await eventually("the failure settled") { client.snapshot().queue.depth == 0 }
                #expect(client.snapshot().queue.failed == 4)
                #expect(client.snapshot().health == .ok, "a permanent failure does not stop the client")
                let doomedSnapshot = try #require(client.spanManager.span(withID: doomed))
                #expect(doomedSnapshot.deliveryError != nil)
                #expect(!doomedSnapshot.createDelivered)
                #expect(client.spanManager.span(withID: child)?.deliveryError != nil)

                // The client keeps working: later spans and the instance finish (ordered `after`) are delivered.
                let sibling = try await run.createSpan(schemaName: "agent:sibling")
                try await run.finishSpan(sibling)
                try await run.finish()
                return (run.id, (doomed: doomed, child: child))
            }
            let failed = report.failed
            #expect(failed.map(\.operation.kind) == [.createSpan, .createSpan, .finishSpan, .finishSpan])
            #expect(failed.map(\.operation.spanID) == [local.doomed, local.child, local.child, local.doomed])
            #expect(failed.first?.status == 422, "the failure itself has the API's status")
            #expect(failed.dropFirst().allSatisfy { $0.status == nil }, "dependents fail without being sent")
            #expect(report.undelivered.isEmpty)
            #expect(server.posts(spansPath).filter(isSpanCreate).map(\.status) == [422, 200])
            let spans = try await serverSpans(server, instanceID: instanceID)
            #expect(spans.map(\.schemaName) == ["agent:sibling"])
            #expect(spans.first?.status == .complete)
            #expect(try await inspector(server).agentInstance(id: instanceID).status == .complete)
        }
    }

    @Test func aBoundOnAttemptsTurnsPersistentTransientFailuresPermanent() async throws {
        try await withTestServer { server in
            let configuration = coreConfiguration(server, maxDeliveryAttempts: 3)
            let (instanceID, report) = try await withRunningClient(configuration) { client in
                let run = try await registerInstance(client)
                server.faults.add(FaultRule(method: "POST", path: spansPath, status: 503, count: 3))
                let span = try await run.createSpan(schemaName: "agent:gives-up")
                try await run.finishSpan(span)
                try await eventually("the span failed") { client.snapshot().queue.failed == 2 }
                let later = try await run.createSpan(schemaName: "agent:later")
                try await run.finishSpan(later)
                return run.id
            }
            #expect(report.failed.map(\.operation.kind) == [.createSpan, .finishSpan])
            #expect(report.failed.first?.reason.contains("Gave up after 3 attempts") == true)
            #expect(report.failed.first?.status == 503, "the status of the last attempt")
            #expect(server.posts(spansPath).filter(isSpanCreate).map(\.status) == [503, 503, 503, 200])
            #expect(try await serverSpans(server, instanceID: instanceID).map(\.schemaName) == ["agent:later"])
        }
    }

    @Test(arguments: [401, 403])
    func anAuthFailurePausesDeliveryKeepsTheQueueAndResumes(status: Int) async throws {
        try await withTestServer { server in
            let ((instanceID, recorder), report) = try await withRunningClient(coreConfiguration(server)) { client in
                let recorder = EventRecorder(client.events())
                let run = try await registerInstance(client)
                server.faults.add(FaultRule(path: "/api/v1/*", status: status))
                try await run.start()
                for index in 0..<5 {
                    let span = try await run.createSpan(schemaName: "agent:s\(index)")
                    try await run.finishSpan(span)
                }
                try await run.finish()
                try await eventually("delivery is paused") { client.snapshot().health == .authFailed }
                let pings = { server.requests.requests(method: "GET", pathPrefix: "/api/v1/ping").count }
                try await eventually("the token is probed") { pings() >= 2 }
                let sentWhilePaused = server.posts().count
                try await eventually("the token is probed again") { pings() >= 4 }
                // Paused: no operation reaches the server (only the pings), and nothing was dropped or failed.
                #expect(server.posts().count == sentWhilePaused)
                let paused = client.snapshot()
                #expect(paused.queue.depth == 12)
                #expect(paused.queue.failed == 0)
                #expect(paused.queue.inFlight == 0)

                server.faults.removeAll()
                try await eventually("delivery resumed and drained") { client.snapshot().queue.depth == 0 }
                #expect(client.snapshot().health == .ok)
                return (run.id, recorder)
            }
            let events = await recorder.finished()
            #expect(report.isComplete)
            #expect(report.deliveredCount == 12)
            let spans = try await serverSpans(server, instanceID: instanceID)
            #expect(spans.count == 5)
            #expect(spans.allSatisfy { $0.status == .complete })
            #expect(try await inspector(server).agentInstance(id: instanceID).status == .complete)
            let health = events.compactMap { event -> APIHealth? in
                if case .healthChanged(let health) = event { return health }
                return nil
            }
            #expect(health == [.authFailed, .ok])
        }
    }

    @Test func directCallsUpdateTheHealthAsDeliveriesDo() async throws {
        try await withTestServer { server in
            _ = try await withRunningClient(coreConfiguration(server)) { client in
                let register = "/api/v1/agent_instance/register"
                // Nothing is queued: only the register call can tell that the API fails.
                server.faults.add(FaultRule(method: "POST", path: register, status: 503, count: 1))
                await #expect(throws: PrefactorError.self) { try await registerInstance(client) }
                #expect(client.snapshot().health == .retrying)
                let run = try await registerInstance(client)
                #expect(client.snapshot().health == .ok, "a call that succeeds says the API is back")
                server.faults.add(
                    FaultRule(method: "POST", path: "/api/v1/agent_instance/*/terminate", count: 1, dropConnection: true))
                await #expect(throws: PrefactorError.self) { try await client.terminateInstance(run.id, reason: "test") }
                #expect(client.snapshot().health == .unreachable)
                // A refusal of the request itself says nothing about the API's health.
                _ = try await registerInstance(client)
                server.faults.add(FaultRule(method: "POST", path: register, status: 422, count: 1))
                await #expect(throws: PrefactorError.self) { try await registerInstance(client) }
                #expect(client.snapshot().health == .ok)
            }
        }
    }

    @Test func aConflictOnFinishingSomethingFinishedCountsAsDelivered() async throws {
        try await withTestServer { server in
            let api = try inspector(server)
            let (instanceID, report) = try await withRunningClient(coreConfiguration(server)) { client in
                let run = try await registerInstance(client)
                try await run.start()
                let span = try await run.createSpan(schemaName: "agent:finished-elsewhere")
                try await eventually("the create is delivered") {
                    client.spanManager.span(withID: span)?.createDelivered == true
                }
                // Someone else finishes the span and the instance first.
                _ = try await api.finishSpan(id: try apiID(client, span), status: .failed)
                _ = try await api.finishAgentInstance(id: run.id, status: .cancelled)
                try await run.finishSpan(span)
                try await run.finish()
                try await eventually("both finishes settled") { client.snapshot().queue.depth == 0 }
                #expect(client.spanManager.span(withID: span)?.finishDelivered == true)
                return run.id
            }
            #expect(report.isComplete, "409 on a finish is success: \(report.failed.map(\.reason))")
            #expect(report.deliveredCount == 4)
            #expect(server.posts(spansPath).filter { isSpanFinish($0) }.map(\.status) == [200, 409])
            #expect(server.posts(instancePath(instanceID, "finish")).map(\.status) == [200, 409])
            // The server kept the first finish.
            #expect(try await serverSpans(server, instanceID: instanceID).first?.status == .failed)
        }
    }

    @Test func aConflictOnAnythingElseIsAPermanentFailure() async throws {
        try await withTestServer { server in
            let api = try inspector(server)
            let (_, report) = try await withRunningClient(coreConfiguration(server)) { client in
                let run = try await registerInstance(client)
                // Started by someone else: the client's start gets 409, which is not a finish.
                _ = try await api.startAgentInstance(id: run.id)
                try await run.start()
                try await eventually("the start settled") { client.snapshot().queue.depth == 0 }
                return ()
            }
            #expect(report.failed.map(\.operation.kind) == [.startInstance])
            #expect(report.failed.first?.status == 409)
        }
    }
}

/// A value set from inside a `withPrefactorClient` body.
final class UUIDBox: Sendable {
    private let storage = Mutex<String?>(nil)
    func set(_ value: String) { storage.withLock { $0 = value } }
    var value: String? { storage.withLock { $0 } }
}
