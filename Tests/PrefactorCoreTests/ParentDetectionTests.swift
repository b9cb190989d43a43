import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorServerTesting
import PrefactorWire
import Testing

/// Guarantee 6: parents come from a task-local stack of open spans; an explicit parent wins; child tasks see their
/// creator's stack. Checked against the parents the server stored.
@Suite(.timeLimit(.minutes(1)))
struct ParentDetectionTests {
    @Test(arguments: [PrefactorClient.SpanStartMode.queued, .synchronous])
    func nestedSpanClosuresParentUnderTheEnclosingSpan(mode: PrefactorClient.SpanStartMode) async throws {
        try await withTestServer { server in
            let instanceID = try await withPrefactorClient(configuration: coreConfiguration(server, mode: mode)) { client in
                let run = try await registerInstance(client)
                try await run.start()
                // No explicit start anywhere: children start their prepared parents, and the contexts then only
                // finish them.
                try await run.span("agent:a", payload: ["level": 1]) { _ in
                    try await run.span("agent:b") { _ in
                        try await run.span("agent:c") { _ in }
                    }
                    try await run.span("agent:d") { _ in }
                }
                try await run.span("agent:e") { _ in }
                try await run.finish()
                return run.id
            }
            let spans = try await serverSpansByName(server, instanceID: instanceID)
            #expect(spans.count == 5)
            let a = try #require(spans["agent:a"])
            let b = try #require(spans["agent:b"])
            #expect(a.parentSpanID == nil)
            #expect(a.payload == ["level": 1], "an implicitly started parent is created with its context's payload")
            #expect(b.parentSpanID == a.id)
            #expect(spans["agent:c"]?.parentSpanID == b.id)
            #expect(spans["agent:d"]?.parentSpanID == a.id)
            #expect(spans["agent:e"]?.parentSpanID == nil, "a span opened after the first closed is a root")
            #expect(spans.values.allSatisfy { $0.status == .complete })
        }
    }

    @Test func createSpanWithoutParentPicksTheInnermostOpenSpanOfTheTask() async throws {
        try await withTestServer { server in
            let instanceID = try await withPrefactorClient(configuration: coreConfiguration(server)) { client in
                let run = try await registerInstance(client)
                try await run.start()
                let root = try await run.createSpan(schemaName: "agent:root")
                #expect(client.spanManager.span(withID: root)?.parentID == nil, "no open span: a root")
                try await run.span("agent:outer") { outer in
                    try await outer.start()
                    try await run.span("agent:inner") { inner in
                        try await inner.start()
                        let viaHandle = try await run.createSpan(schemaName: "agent:via-handle")
                        let viaManager = try await client.spanManager.create(
                            instanceID: run.id, schemaName: "agent:via-manager")
                        let prepared = client.spanManager.prepare(instanceID: run.id, schemaName: "agent:prepared")
                        #expect(client.spanManager.span(withID: viaHandle)?.parentID == inner.id)
                        #expect(client.spanManager.span(withID: viaManager)?.parentID == inner.id)
                        #expect(client.spanManager.span(withID: prepared)?.parentID == inner.id)
                        try await client.spanManager.start(prepared)
                        for id in [viaHandle, viaManager, prepared] { try await run.finishSpan(id) }
                    }
                    // Inner is closed: the innermost open span is outer again.
                    let afterInner = try await run.createSpan(schemaName: "agent:after-inner")
                    #expect(client.spanManager.span(withID: afterInner)?.parentID == outer.id)
                    try await run.finishSpan(afterInner)
                }
                try await run.finishSpan(root)
                try await run.finish()
                return run.id
            }
            let spans = try await serverSpansByName(server, instanceID: instanceID)
            let outer = try #require(spans["agent:outer"]?.id)
            let inner = try #require(spans["agent:inner"]?.id)
            #expect(spans["agent:root"]?.parentSpanID == nil)
            #expect(spans["agent:inner"]?.parentSpanID == outer)
            #expect(spans["agent:via-handle"]?.parentSpanID == inner)
            #expect(spans["agent:via-manager"]?.parentSpanID == inner)
            #expect(spans["agent:prepared"]?.parentSpanID == inner)
            #expect(spans["agent:after-inner"]?.parentSpanID == outer)
        }
    }

    @Test func anExplicitParentWinsOverTheEnclosingSpan() async throws {
        try await withTestServer { server in
            let instanceID = try await withPrefactorClient(configuration: coreConfiguration(server)) { client in
                let run = try await registerInstance(client)
                try await run.start()
                let other = try await run.createSpan(schemaName: "agent:other")
                try await run.span("agent:enclosing") { enclosing in
                    try await enclosing.start()
                    let viaHandle = try await run.createSpan(schemaName: "agent:explicit-handle", parentSpanID: other)
                    try await run.span("agent:explicit-closure", parentSpanID: other) { _ in }
                    #expect(client.spanManager.span(withID: viaHandle)?.parentID == other)
                    try await run.finishSpan(viaHandle)
                }
                try await run.finishSpan(other)
                try await run.finish()
                return run.id
            }
            let spans = try await serverSpansByName(server, instanceID: instanceID)
            let other = try #require(spans["agent:other"]?.id)
            #expect(spans["agent:explicit-handle"]?.parentSpanID == other)
            #expect(spans["agent:explicit-closure"]?.parentSpanID == other)
            #expect(spans["agent:enclosing"]?.parentSpanID == nil)
        }
    }

    @Test func anExplicitParentCanBeTheAPIIDOfADeliveredSpan() async throws {
        try await withTestServer { server in
            let instanceID = try await withPrefactorClient(configuration: coreConfiguration(server)) { client in
                let run = try await registerInstance(client)
                try await run.start()
                let parent = try await run.createSpan(schemaName: "agent:parent")
                try await eventually("the parent is delivered") { client.spanManager.span(withID: parent)?.apiID != nil }
                let parentAPIID = try apiID(client, parent)
                let child = try await run.createSpan(schemaName: "agent:child", parentSpanID: parentAPIID)
                #expect(client.spanManager.span(withID: child)?.parentID == parent, "the API id maps to the local span")
                try await run.finishSpan(child)
                try await run.finishSpan(parent)
                try await run.finish()
                return run.id
            }
            let spans = try await serverSpansByName(server, instanceID: instanceID)
            #expect(spans["agent:child"]?.parentSpanID == spans["agent:parent"]?.id)
        }
    }

    @Test(arguments: [PrefactorClient.SpanStartMode.queued, .synchronous])
    func concurrentChildTasksEachSeeTheirCreatorsStack(mode: PrefactorClient.SpanStartMode) async throws {
        try await withTestServer { server in
            let instanceID = try await withPrefactorClient(configuration: coreConfiguration(server, mode: mode)) { client in
                let run = try await registerInstance(client)
                try await run.start()
                // The root is not started explicitly: the concurrent children start it, and it must be created once.
                try await run.span("agent:root") { _ in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for worker in 0..<6 {
                            group.addTask {
                                try await run.span("agent:task-\(worker)") { _ in
                                    await Task.yield()
                                    try await run.span("agent:task-\(worker)-child") { child in
                                        try await child.start()
                                    }
                                }
                            }
                        }
                        try await group.waitForAll()
                    }
                }
                try await run.finish()
                return run.id
            }
            let spans = try await serverSpans(server, instanceID: instanceID)
            #expect(spans.count == 13, "one root, six task spans and six children, no duplicates")
            let byName = try await serverSpansByName(server, instanceID: instanceID)
            let root = try #require(byName["agent:root"]?.id)
            for worker in 0..<6 {
                let task = try #require(byName["agent:task-\(worker)"])
                #expect(task.parentSpanID == root)
                #expect(byName["agent:task-\(worker)-child"]?.parentSpanID == task.id, "not a sibling task's span")
            }
        }
    }

    @Test func finishedSpansAndOtherInstancesAreSkipped() async throws {
        try await withTestServer { server in
            let (firstID, secondID) = try await withPrefactorClient(configuration: coreConfiguration(server)) { client in
                let first = try await registerInstance(client)
                let second = try await registerInstance(client)
                try await first.start()
                try await second.start()
                try await first.span("agent:outer") { outer in
                    try await outer.start()
                    try await first.span("agent:done-early") { done in
                        try await done.complete()
                        // done-early is finished: the innermost open span is outer.
                        let afterDone = try await first.createSpan(schemaName: "agent:after-done")
                        #expect(client.spanManager.span(withID: afterDone)?.parentID == outer.id)
                        try await first.finishSpan(afterDone)
                    }
                    // Another instance's span never parents under this instance's stack.
                    let foreign = try await second.createSpan(schemaName: "agent:foreign")
                    #expect(client.spanManager.span(withID: foreign)?.parentID == nil)
                    try await second.finishSpan(foreign)
                    // A detached task does not inherit the stack.
                    let detached = try await Task.detached {
                        try await first.createSpan(schemaName: "agent:detached")
                    }.value
                    #expect(client.spanManager.span(withID: detached)?.parentID == nil)
                    try await first.finishSpan(detached)
                }
                try await first.finish()
                try await second.finish()
                return (first.id, second.id)
            }
            let first = try await serverSpansByName(server, instanceID: firstID)
            let second = try await serverSpansByName(server, instanceID: secondID)
            #expect(first["agent:after-done"]?.parentSpanID == first["agent:outer"]?.id)
            #expect(first["agent:detached"]?.parentSpanID == nil)
            #expect(second["agent:foreign"]?.parentSpanID == nil)
            #expect(second.count == 1)
        }
    }
}
