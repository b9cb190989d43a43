import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

// MARK: Workload plans

/// How a planned span ends.
enum PlannedEnding: CaseIterable, Sendable {
    case complete, implicitComplete, fail, cancel, cancelBeforeStart, throwing

    /// The status the server must end up with.
    var status: AgentStatus {
        switch self {
        case .complete, .implicitComplete: return .complete
        case .fail, .throwing: return .failed
        case .cancel, .cancelBeforeStart: return .cancelled
        }
    }
}

/// One span of a workload, decided up front so that concurrent execution needs no random numbers.
struct PlannedSpan: Sendable {
    var name: String
    /// `span { }` closure, or `createSpan` + `finishSpan`.
    var closure: Bool
    var ending: PlannedEnding
    var explicitStart: Bool
    /// Pass the parent's id explicitly rather than rely on the task-local stack.
    var explicitParent: Bool
    var concurrentChildren: Bool
    var children: [PlannedSpan]

    var all: [PlannedSpan] { [self] + children.flatMap(\.all) }
}

struct PlannedInstance: Sendable {
    var index: Int
    var start: Bool
    var finish: FinishStatus?
    var concurrentRoots: Bool
    var roots: [PlannedSpan]
    /// Faults added just before the instance finishes.
    var lateFaults: [FaultRule]

    var spans: [PlannedSpan] { roots.flatMap(\.all) }

    /// The server status the instance must end with.
    var expectedStatus: AgentStatus {
        if let finish { return AgentStatus(rawValue: finish.rawValue)! }
        return start ? .active : .pending
    }

    /// Each span's expected parent name.
    var expectedParents: [String: String?] {
        var parents: [String: String?] = [:]
        func visit(_ span: PlannedSpan, parent: String?) {
            parents[span.name] = parent
            for child in span.children { visit(child, parent: span.name) }
        }
        for root in roots { visit(root, parent: nil) }
        return parents
    }
}

struct Workload: Sendable {
    var instances: [PlannedInstance]
    var initialFaults: [FaultRule]
}

/// Transient faults only: 503s, dropped connections, and (rarely) a 401 that pauses delivery until the ping works.
/// With `bulk`, bulk requests fail too (a status fault on span creates also fails bulk items).
func randomFault(_ random: inout SeededGenerator, bulk: Bool = false) -> FaultRule {
    let paths =
        [
            spansPath, spansPath + "/*/finish", "/api/v1/agent_instance/*/start", "/api/v1/agent_instance/*/finish",
        ] + (bulk ? ["/api/v1/bulk"] : [])
    let path = paths.randomElement(using: &random)!
    let count = Int.random(in: 1...3, using: &random)
    switch Int.random(in: 0..<10, using: &random) {
    case 0: return FaultRule(method: "POST", path: path, status: 401, count: 1)
    case 1...4: return FaultRule(method: "POST", path: path, count: count, dropConnection: true)
    default: return FaultRule(method: "POST", path: path, status: 503, count: count)
    }
}

/// Whether a seed's workload runs with bulk requests on: half of them, with and without combined finishes.
func usesBulk(seed: UInt64) -> Bool { seed % 4 >= 2 }

func makeWorkload(seed: UInt64) -> Workload {
    var random = SeededGenerator(seed: seed)
    var counter = 0
    func planSpan(instance: Int, depth: Int, parentIsClosure: Bool?) -> PlannedSpan {
        counter += 1
        let name = "agent:i\(instance)-s\(counter)"
        let closure = Bool.random(using: &random) || Int.random(in: 0..<3, using: &random) > 0
        var ending = PlannedEnding.allCases.randomElement(using: &random)!
        if !closure && ending == .implicitComplete { ending = .complete }
        var children: [PlannedSpan] = []
        if ending != .cancelBeforeStart && depth < 3 {
            let count = Int.random(in: 0...(depth == 0 ? 3 : 2), using: &random)
            for _ in 0..<count { children.append(planSpan(instance: instance, depth: depth + 1, parentIsClosure: closure)) }
        }
        // The task-local stack only holds closure spans: a manual span's children name it explicitly.
        let explicitParent = parentIsClosure == false || (parentIsClosure == true && Int.random(in: 0..<5, using: &random) == 0)
        return PlannedSpan(
            name: name, closure: closure, ending: ending,
            explicitStart: Bool.random(using: &random), explicitParent: explicitParent,
            concurrentChildren: closure && Int.random(in: 0..<3, using: &random) == 0, children: children)
    }
    var instances: [PlannedInstance] = []
    for index in 0..<Int.random(in: 1...3, using: &random) {
        let start = Int.random(in: 0..<5, using: &random) > 0
        let finish: FinishStatus? =
            Int.random(in: 0..<5, using: &random) == 0 ? nil : [.complete, .failed, .cancelled].randomElement(using: &random)
        let roots = (0..<Int.random(in: 1...4, using: &random)).map { _ in
            planSpan(instance: index, depth: 0, parentIsClosure: nil)
        }
        let lateFaults = (0..<Int.random(in: 0...2, using: &random)).map { _ in
            randomFault(&random, bulk: usesBulk(seed: seed))
        }
        instances.append(
            PlannedInstance(
                index: index, start: start, finish: finish, concurrentRoots: Bool.random(using: &random), roots: roots,
                lateFaults: lateFaults))
    }
    let initialFaults = (0..<Int.random(in: 2...6, using: &random)).map { _ in
        randomFault(&random, bulk: usesBulk(seed: seed))
    }
    return Workload(instances: instances, initialFaults: initialFaults)
}

// MARK: Running a plan

struct PlannedFailure: Error {}

func perform(_ span: PlannedSpan, parentID: String?, run: AgentInstanceHandle, client: PrefactorClient) async throws {
    let explicitParent = span.explicitParent ? parentID : nil
    let payload: [String: JSONValue] = ["name": .string(span.name)]
    if span.closure {
        do {
            try await run.span(span.name, parentSpanID: explicitParent, payload: payload) { context in
                if span.ending == .cancelBeforeStart {
                    try await context.cancel()
                    return
                }
                if span.explicitStart { try await context.start() }
                try await performAll(
                    span.children, concurrently: span.concurrentChildren, parentID: context.id, run: run, client: client)
                switch span.ending {
                case .complete: try await context.complete(["ok": true])
                case .implicitComplete: break
                case .fail: try await context.fail(["why": "planned"])
                case .cancel: try await context.cancel()
                case .throwing: throw PlannedFailure()
                case .cancelBeforeStart: break
                }
            }
        } catch is PlannedFailure {
            // The span records the failure; the workload goes on.
        }
    } else if span.ending == .cancelBeforeStart {
        let id = client.spanManager.prepare(instanceID: run.id, schemaName: span.name, parentSpanID: explicitParent)
        try await client.spanManager.cancelUnstarted(id)
    } else {
        let id = try await run.createSpan(schemaName: span.name, parentSpanID: explicitParent, payload: payload)
        try await performAll(span.children, concurrently: false, parentID: id, run: run, client: client)
        let status = FinishStatus(rawValue: span.ending.status.rawValue)!
        try await run.finishSpan(id, resultPayload: ["status": .string(status.rawValue)], status: status)
    }
}

func performAll(
    _ spans: [PlannedSpan], concurrently: Bool, parentID: String?, run: AgentInstanceHandle, client: PrefactorClient
) async throws {
    if concurrently {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for span in spans {
                group.addTask { try await perform(span, parentID: parentID, run: run, client: client) }
            }
            try await group.waitForAll()
        }
    } else {
        for span in spans { try await perform(span, parentID: parentID, run: run, client: client) }
    }
}

// MARK: Tests

/// Random workloads with three workers and injected transient faults: the server must end up with exactly what the
/// agent did — every span once, with the right status and parent, and the right instance statuses — and the wire
/// must show no ordering error. Half of the seeds run with bulk requests on (a backlog of span creates in one request).
@Suite(.timeLimit(.minutes(1)))
struct PropertyTests {
    @Test(arguments: Array(1...16) as [UInt64])
    func randomWorkloadsReachTheServerExactly(seed: UInt64) async throws {
        let workload = makeWorkload(seed: seed)
        try await withTestServer { server in
            for fault in workload.initialFaults { server.faults.add(fault) }
            server.faults.add(FaultRule(path: "/api/v1/agent_spans*", latencyMilliseconds: Int(seed % 3) * 5 + 1))
            // Odd seeds combine creates with queued finishes: the server must end up the same either way.
            var configuration = coreConfiguration(server, workers: 3, bulkMaxItems: usesBulk(seed: seed) ? 4 : 0)
            configuration.coalesceSpanFinishes = seed % 2 == 1
            let (instanceIDs, recorder) = try await withPrefactorClient(configuration: configuration) {
                client in
                let recorder = EventRecorder(client.events())
                let ids = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                    for plan in workload.instances {
                        // Register in order, so faults and ids do not depend on scheduling; run concurrently.
                        let run = try await registerInstance(client)
                        group.addTask {
                            if plan.start { try await run.start() }
                            try await performAll(
                                plan.roots, concurrently: plan.concurrentRoots, parentID: nil, run: run, client: client)
                            for fault in plan.lateFaults { server.faults.add(fault) }
                            if let status = plan.finish { try await run.finish(status: status) }
                            return (plan.index, run.id)
                        }
                    }
                    var ids: [Int: String] = [:]
                    for try await (index, id) in group { ids[index] = id }
                    return ids
                }
                return (ids, recorder)
            }
            let events = await recorder.finished()
            let api = try inspector(server)
            let totalSpans = workload.instances.map(\.spans.count).reduce(0, +)
            for plan in workload.instances {
                let instanceID = try #require(instanceIDs[plan.index])
                let stored = try await serverSpans(server, instanceID: instanceID)
                let byName = Dictionary(stored.map { ($0.schemaName, $0) }, uniquingKeysWith: { first, _ in first })
                let byID = Dictionary(uniqueKeysWithValues: stored.map { ($0.id, $0.schemaName) })
                #expect(stored.count == plan.spans.count, "seed \(seed): no duplicate and no missing span")
                #expect(Set(byName.keys) == Set(plan.spans.map(\.name)), "seed \(seed)")
                let parents = plan.expectedParents
                for span in plan.spans {
                    guard let actual = byName[span.name] else { continue }
                    #expect(actual.status == span.ending.status, "seed \(seed): \(span.name) ended \(span.ending)")
                    let parentName = actual.parentSpanID.flatMap { byID[$0] }
                    #expect(parentName == parents[span.name] ?? nil, "seed \(seed): parent of \(span.name)")
                    if actual.parentSpanID != nil {
                        #expect(parentName != nil, "seed \(seed): the parent is a span of the same instance")
                    }
                }
                #expect(try await api.agentInstance(id: instanceID).status == plan.expectedStatus, "seed \(seed)")
            }
            // On the wire: each span was created and finished exactly once, and the server never refused a request
            // for a reason other than an injected fault (a 404, 409 or 422 would mean an ordering or id error).
            let log = server.posts(spansPath)
            // Creates delivered in a bulk request count once each (their items; the request is one POST).
            let batched = SendingRecord(events).createsDeliveredInBulk
            if !usesBulk(seed: seed) { #expect(batched == 0, "seed \(seed)") }
            let singles = log.filter { isSpanCreate($0) && $0.status == 200 }.count
            #expect(singles + batched == totalSpans, "seed \(seed)")
            // Finishes that travelled with their create (odd seeds) need no request of their own.
            let travelling = SendingRecord(events).finishesSentWithTheirCreate.count
            if !configuration.coalesceSpanFinishes { #expect(travelling == 0, "seed \(seed)") }
            let finishes = log.filter { isSpanFinish($0) && $0.status == 200 }.count
            #expect(finishes + travelling == totalSpans, "seed \(seed)")
            let statuses = Set(server.posts().map(\.status))
            #expect(statuses.isSubset(of: [200, 401, 503, 0]), "seed \(seed): \(statuses)")
            // Per instance, its finish reached the server after every finish of its spans.
            for plan in workload.instances where plan.finish != nil {
                let instanceID = try #require(instanceIDs[plan.index])
                let spanIDs = Set(try await serverSpans(server, instanceID: instanceID).map(\.id))
                let all = server.posts()
                let finish = try index(of: "instance finish", in: all) {
                    $0.path == instancePath(instanceID, "finish") && $0.status == 200
                }
                let spanFinishes = all.indices.filter { position in
                    spanIDs.contains { isSpanFinish(all[position], apiID: $0) }
                }
                #expect(spanFinishes.allSatisfy { $0 < finish }, "seed \(seed)")
            }
            expectCausalSending(events)
        }
    }
}
