import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorTUI
import PrefactorWire
import Testing

/// A remote instance as the API reports it.
func remoteInstance(
    _ id: String, _ status: AgentStatus = .active, updated: Double = 0, finished: Double? = nil, agent: String = "agent-r",
    spans: SpanCounts? = nil
) -> AgentInstance {
    AgentInstance(
        id: id, accountID: "acc", agentID: agent, agentVersionID: "av", environmentID: "env", agentDeploymentID: "dep",
        status: status, insertedAt: at(0), updatedAt: at(updated), startedAt: at(0), finishedAt: finished.map(at),
        spanCounts: spans)
}

/// A remote span as the API reports it.
func remoteSpan(
    _ id: String, in instanceID: String, parent: String? = nil, _ schema: String = "agent:llm", _ status: AgentStatus = .active,
    started: Double = 0, finished: Double? = nil
) -> AgentSpan {
    AgentSpan(
        id: id, agentInstanceID: instanceID, schemaName: schema, status: status, parentSpanID: parent,
        payload: ["model": "gpt-4"], startedAt: at(started), insertedAt: at(started), updatedAt: at(finished ?? started),
        finishedAt: finished.map(at))
}

func changes(
    instances: [AgentInstance] = [], spans: [AgentSpan] = [], loaded: [String] = [], at seconds: Double = 0
) -> RemoteEvent {
    .changes(RemoteChanges(instances: instances, spans: spans, loadedInstances: loaded, at: at(seconds)))
}

@Suite("Remote items in the model")
struct RemoteModelTests {
    func watching(ageOut: TimeInterval = 900, maxFinished: Int = 200) -> AppModel {
        var model = emptyModel()
        model.remote = RemoteView(ageOut: ageOut, maxFinished: maxFinished)
        model.resize(100, 30)
        return model
    }

    @Test("Remote runs and spans merge into the tree with their API statuses, nested under their parents")
    func merge() {
        var model = watching()
        model.apply(
            changes(
                instances: [remoteInstance("ai_r")],
                spans: [
                    remoteSpan("sp_root", in: "ai_r"),
                    remoteSpan("sp_child", in: "ai_r", parent: "sp_root", "agent:tool", .failed, finished: 2),
                    remoteSpan("sp_wait", in: "ai_r", parent: "sp_root", "agent:retrieval", .pending),
                ],
                loaded: ["ai_r"]))
        #expect(model.rows.map(\.node) == [.instance("ai_r"), .span("sp_root"), .span("sp_child"), .span("sp_wait")])
        #expect(model.rows.map(\.depth) == [0, 1, 2, 2])
        #expect(model.tree.status(of: .span("sp_child")) == .failed)
        #expect(model.tree.status(of: .span("sp_wait")) == .pending)
        #expect(model.isRemote(.span("sp_root")))
        #expect(model.isRemote(.instance("ai_r")))
    }

    @Test("Remote siblings are shown in start order whatever order the API returns them in")
    func siblingsInStartOrder() {
        var model = watching()
        model.apply(
            changes(
                instances: [remoteInstance("ai_r")],
                spans: [
                    remoteSpan("sp_root", in: "ai_r"),
                    remoteSpan("sp_second", in: "ai_r", parent: "sp_root", started: 2),
                    remoteSpan("sp_first", in: "ai_r", parent: "sp_root", "agent:llm", .complete, started: 1, finished: 3),
                ],
                loaded: ["ai_r"]))
        model.apply(
            changes(spans: [
                remoteSpan("sp_zeroth", in: "ai_r", parent: "sp_root", "agent:llm", .complete, started: 0.5, finished: 4)
            ]))
        #expect(model.rows.map(\.node.rawID) == ["ai_r", "sp_root", "sp_zeroth", "sp_first", "sp_second"])
    }

    @Test("A remote span that the local client owns (same API id) shows once, as the local one")
    func localWinsWhenRemoteArrivesLater() {
        var model = watching()
        model.apply(
            at: 0,
            [
                .instanceStarted(instance("ai_local")),
                .spanStarted(span("local-1", in: "ai_local", "agent:llm", .active, apiID: "sp_api", started: 0)),
            ])
        model.apply(
            changes(instances: [remoteInstance("ai_local")], spans: [remoteSpan("sp_api", in: "ai_local")], loaded: ["ai_local"]))
        #expect(model.tree.spanCount == 1)
        #expect(model.tree.spans["local-1"] != nil)
        #expect(!model.isRemote(.instance("ai_local")))
    }

    @Test("A local span whose create is answered after the watcher saw it replaces the remote copy, children included")
    func localTakesOverRemoteCopy() {
        var model = watching()
        model.apply(at: 0, [.instanceStarted(instance("ai_local"))])
        model.apply(
            changes(spans: [remoteSpan("sp_api", in: "ai_local"), remoteSpan("sp_kid", in: "ai_local", parent: "sp_api")]))
        #expect(model.tree.spanCount == 2)
        model.apply(at: 1, [.spanResolved(span("local-1", in: "ai_local", "agent:llm", .active, apiID: "sp_api", started: 0))])
        #expect(model.tree.spanCount == 2)
        #expect(model.tree.spans["sp_api"] == nil)
        #expect(model.tree.parent(of: .span("sp_kid")) == .span("local-1"))
        #expect(model.rows.map(\.node) == [.instance("ai_local"), .span("local-1"), .span("sp_kid")])
    }

    @Test("Remote merges do not move the selection on screen")
    func selectionStays() {
        var model = watching()
        model.apply(changes(instances: [remoteInstance("ai_a")], spans: [remoteSpan("sp_a", in: "ai_a")], loaded: ["ai_a"]))
        model.selection = .span("sp_a")
        model.refreshRows()
        let row = model.selectedIndex.map { $0 - model.scroll }
        model.apply(
            changes(spans: [
                remoteSpan("sp_b", in: "ai_a", started: 1), remoteSpan("sp_a", in: "ai_a", "agent:llm", .complete, finished: 2),
            ]))
        #expect(model.selection == .span("sp_a"))
        #expect(model.selectedIndex.map { $0 - model.scroll } == row)
        #expect(model.tree.status(of: .span("sp_a")) == .complete)
    }

    @Test("Runs already finished when first seen start folded, showing the API's span counts until opened")
    func finishedRunsFold() {
        var model = watching()
        model.apply(
            changes(
                instances: [
                    remoteInstance(
                        "ai_done", .complete, finished: 1, spans: SpanCounts(total: 7, complete: 6, failed: 1, finished: 7)),
                    remoteInstance("ai_live"),
                ], loaded: ["ai_live"]))
        #expect(model.collapsed.contains(.instance("ai_done")))
        #expect(!model.collapsed.contains(.instance("ai_live")))
        #expect(model.needsRemoteSpans(.instance("ai_done")))
        let text = Layout(model: model, theme: Theme(unicode: true, color: false)).render().plainText()
        #expect(text.contains("[7 ✗1]"))
        model.selection = .instance("ai_done")
        #expect(model.handle(.right) == [.loadRemoteSpans("ai_done")])
    }

    @Test("Finished remote runs age out after the age-out time, except the selected one")
    func ageOut() {
        var model = watching(ageOut: 60)
        model.apply(
            changes(
                instances: [
                    remoteInstance("ai_old", .complete, finished: 0), remoteInstance("ai_kept", .failed, finished: 0),
                    remoteInstance("ai_live"),
                ],
                spans: [
                    remoteSpan("sp_old", in: "ai_old", "agent:llm", .complete, finished: 0),
                    remoteSpan("sp_old_child", in: "ai_old", parent: "sp_old", "agent:tool", .complete, finished: 0),
                    remoteSpan("sp_orphan", in: "ai_old", parent: "sp_unknown", "agent:tool", .complete, finished: 0),
                ]))
        model.selection = .instance("ai_kept")
        model.tick(at(120))
        let removed = model.ageOutRemote()
        #expect(removed == ["ai_old"])
        #expect(model.tree.instances["ai_old"] == nil)
        #expect(model.tree.spans["sp_old"] == nil)
        #expect(model.tree.spans["sp_old_child"] == nil && model.tree.spans["sp_orphan"] == nil)
        #expect(model.tree.spanCount == 0)
        #expect(model.tree.instances["ai_kept"] != nil)
        #expect(model.tree.instances["ai_live"] != nil)
        #expect(model.tree.spanStatusCounts[.complete, default: 0] == 0)
    }

    @Test("Only the newest maxFinished finished remote runs stay")
    func maxFinished() {
        var model = watching(maxFinished: 2)
        model.apply(changes(instances: (0..<4).map { remoteInstance("ai_\($0)", .complete, finished: Double($0)) }))
        #expect(Set(model.tree.instanceOrder) == ["ai_2", "ai_3"])
    }

    @Test("A failing poll keeps the tree and says so in the header; a success clears it")
    func failureKeepsTree() {
        var model = watching()
        model.apply(changes(instances: [remoteInstance("ai_r")], spans: [remoteSpan("sp", in: "ai_r")], loaded: ["ai_r"], at: 0))
        let rows = model.rows
        model.tick(at(3))
        model.apply(.failed(message: "HTTP 503: unavailable", failures: 2, retryAt: at(7)))
        #expect(model.rows == rows)
        let text = Layout(model: model, theme: Theme(unicode: true, color: false)).render().plainText()
        #expect(text.contains("watch failing (2×, retry 4s)"))
        model.apply(changes(at: 4))
        #expect(model.remote?.failure == nil)
        #expect(Layout(model: model, theme: Theme(unicode: true, color: false)).render().plainText().contains("watch 0s ago"))
    }

    @Test("A resync from the client's snapshot keeps the remote items")
    func resyncKeepsRemote() {
        var model = watching()
        model.apply(changes(instances: [remoteInstance("ai_r")], spans: [remoteSpan("sp", in: "ai_r")], loaded: ["ai_r"]))
        model.load(ClientSnapshot(instances: [instance("ai_local")]))
        #expect(Set(model.tree.instanceOrder) == ["ai_r", "ai_local"])
        #expect(model.tree.spans["sp"] != nil)
        #expect(model.isRemote(.span("sp")))
    }

    @Test("W cycles the poll interval and tells the watcher; without a watcher it says so")
    func watchInterval() {
        var model = watching()
        var seen: [Double] = []
        for _ in 0..<5 {
            let effects = model.handle(.character("W"))
            guard case .setWatchInterval(let seconds) = effects.first else {
                Issue.record("no interval effect")
                return
            }
            seen.append(seconds)
            #expect(model.remote?.interval == seconds)
        }
        #expect(seen == [2, 5, 10, 30, 1])
        var plain = emptyModel()
        #expect(plain.handle(.character("W")).isEmpty)
        #expect(plain.message?.isError == true)
    }

    @Test("Remote runs are read-only except terminate")
    func readOnly() {
        var model = watching()
        model.apply(changes(instances: [remoteInstance("ai_r")], spans: [remoteSpan("sp", in: "ai_r")], loaded: ["ai_r"]))
        model.selection = .span("sp")
        for key in ["f", "x", "c", "a", "s"] {
            #expect(model.handle(.character(Character(key))).isEmpty)
            #expect(model.message?.isError == true)
            #expect(model.confirmation == nil && model.prompt == nil)
        }
        _ = model.handle(.character("T"))
        #expect(model.confirmation?.effect == .terminateInstance("ai_r"))
    }
}
