import Foundation
import PrefactorCore
import PrefactorServer
import PrefactorServerTesting
import PrefactorTUI
import PrefactorWire
import Testing

/// The detail pane's lines of a frame: what is right of the tree's separator, trimmed.
func detailText(_ buffer: CellBuffer) -> [String] {
    lines(buffer).map { line in
        guard let separator = line.firstIndex(of: "│") else { return "" }
        return line[line.index(after: separator)...].trimmingCharacters(in: .whitespaces)
    }
}

/// A run with one started span: a create delivered, a finish queued.
func spanWithOperations() -> AppModel {
    var model = emptyModel()
    model.apply(at: 0, [.instanceStarted(instance("inst"))])
    model.apply(at: 1, [.spanStarted(span("sp", in: "inst", "tool:call", .active, payload: ["tool": "grep"], started: 1))])
    let create = TelemetryOperation(
        id: 5, instanceID: "inst",
        body: .createSpan(
            spanID: "sp", parentSpanID: nil, schemaName: "tool:call", status: .active, payload: [:], startedAt: at(1)),
        idempotencyKey: "6f1d2c3e-1b2a-4c3d-9e8f-0a1b2c3d4e5f", enqueuedAt: at(1))
    model.apply(at: 1, [.operationEnqueued(OperationSnapshot(operation: create, state: .pending))])
    model.apply(
        at: 1.5,
        [
            .operationSent(operationID: 5, attempt: 1), .operationDelivered(operationID: 5, attempts: 1),
            .spanResolved(
                span(
                    "sp", in: "inst", "tool:call", .active, apiID: "sp_0000000000000000000000a1", payload: ["tool": "grep"],
                    started: 1)),
        ])
    let finish = TelemetryOperation(
        id: 9, instanceID: "inst", body: .finishSpan(spanID: "sp", status: .complete, resultPayload: nil, timestamp: at(2)),
        idempotencyKey: "0c9b8a7d-6e5f-4a3b-2c1d-fedcba987654", enqueuedAt: at(2))
    model.apply(
        at: 2,
        [
            .spanFinished(
                span(
                    "sp", in: "inst", "tool:call", .complete, apiID: "sp_0000000000000000000000a1", payload: ["tool": "grep"],
                    started: 1, finished: 2)),
            .operationEnqueued(OperationSnapshot(operation: finish, state: .pending)),
        ])
    model.selection = .span("sp")
    return model
}

@Suite("Screen contract: detail pane")
struct DetailPaneContractTests {
    @Test func idempotencyKeysOfQueuedAndDeliveredOperations() {
        var model = spanWithOperations()
        model.focus = .detail
        model.press(.character("G"))  // at 80x24 the operations are at the end of the detail pane
        for (width, height) in [(160, 48), (80, 24)] {
            let detail = detailText(model.frame(width, height))
            let joined = detail.joined()
            // Whole keys, even where the pane is narrower than a key and it wraps.
            #expect(joined.contains("key 6f1d2c3e-1b2a-4c3d-9e8f-0a1b2c3d4e5f"), "\(width)x\(height): \(detail)")
            #expect(joined.contains("key 0c9b8a7d-6e5f-4a3b-2c1d-fedcba987654"), "\(width)x\(height): \(detail)")
            #expect(detail.contains("#5 create_span  delivered"), "\(detail)")
            // A finish names its span, as a create does; the line wraps rather than being cut.
            #expect(detail.contains { $0.hasPrefix("#9 finish_span tool:call") }, "\(detail)")
            #expect(!detail.contains { $0.contains("…") }, "nothing is cut: \(detail)")
            #expect(joined.replacingOccurrences(of: " ", with: "").contains("#9finish_spantool:callpending"), "\(detail)")
        }
    }

    @Test func failedOperationKeepsItsKeyAndReason() {
        var model = spanWithOperations()
        model.apply(
            at: 3,
            [
                .operationFailed(
                    FailedOperation(operation: model.operations[9]!.operation, reason: "HTTP 422: bad result", status: 422))
            ])
        let detail = detailText(model.frame(160, 48))
        #expect(detail.contains("#9 finish_span  failed: HTTP 422: bad result"), "\(detail)")
        #expect(detail.contains("key 0c9b8a7d-6e5f-4a3b-2c1d-fedcba987654"))
    }

    @Test func timestampsAndIDsAreWholeAt80x24() {
        var model = spanWithOperations()
        model.tick(at(2.5))
        let detail = detailText(model.frame(80, 24))
        #expect(!detail.contains { $0.contains("…") }, "\(detail)")
        #expect(detail.contains("2026-01-01T00:00:01.000000Z"), "started, whole: \(detail)")
        #expect(detail.contains("2026-01-01T00:00:02.000000Z"), "finished, whole: \(detail)")
        #expect(detail.contains("sp_0000000000000000000000a1"), "the API id, whole: \(detail)")
        // The history gives the date once and each time of day whole.
        #expect(detail.contains("history 2026-01-01"), "\(detail)")
        #expect(detail.contains("00:00:01.000000Z ● active"), "\(detail)")
        #expect(detail.contains("00:00:02.000000Z ✓ complete"), "\(detail)")
        // Where there is room, timestamps stay on their label's line.
        let wide = detailText(model.frame(160, 48))
        #expect(wide.contains("started  2026-01-01T00:00:01.000000Z"), "\(wide)")
        #expect(
            wide.contains("  2026-01-01T00:00:02.000000Z ✓ complete") || wide.contains("2026-01-01T00:00:02.000000Z ✓ complete"))
    }
}

@Suite("Screen contract: tree statuses")
struct TreeStatusContractTests {
    /// A prepared span cancelled through the cancel-unstarted path: a create `pending` and a finish `cancelled` queued.
    func cancelledBeforeStart() -> AppModel {
        var model = emptyModel()
        model.apply(at: 0, [.instanceStarted(instance("inst"))])
        model.apply(at: 1, [.spanPrepared(span("sp", in: "inst", "agent:step", .prepared, prepared: 1))])
        let create = TelemetryOperation(
            id: 1, instanceID: "inst",
            body: .createSpan(
                spanID: "sp", parentSpanID: nil, schemaName: "agent:step", status: .pending, payload: [:], startedAt: at(1)),
            idempotencyKey: "key-create", enqueuedAt: at(2))
        let finish = TelemetryOperation(
            id: 2, instanceID: "inst", body: .finishSpan(spanID: "sp", status: .cancelled, resultPayload: nil, timestamp: at(2)),
            idempotencyKey: "key-finish", enqueuedAt: at(2))
        model.apply(
            at: 2,
            [
                .spanFinished(span("sp", in: "inst", "agent:step", .cancelled, prepared: 1, finished: 2)),
                .operationEnqueued(OperationSnapshot(operation: create, state: .pending)),
                .operationEnqueued(OperationSnapshot(operation: finish, state: .blocked)),
            ])
        model.selection = .span("sp")
        return model
    }

    @Test func cancelUnstartedShowsPendingUntilTheCancelIsDelivered() {
        var model = cancelledBeforeStart()
        #expect(model.tree.status(of: .span("sp")) == .pending)
        #expect(lines(model.frame(80, 24))[2].hasPrefix("    ○ agent:step"), "\(lines(model.frame(80, 24))[2])")
        #expect(detailText(model.frame(80, 24)).contains("status   ○ pending"))
        // The create (status pending) is delivered: the API has it pending, and so does the tree.
        var resolved = span("sp", in: "inst", "agent:step", .cancelled, apiID: "api-sp", prepared: 1, finished: 2)
        resolved.finishDelivered = false
        model.apply(at: 3, [.operationDelivered(operationID: 1, attempts: 1), .spanResolved(resolved)])
        #expect(model.tree.status(of: .span("sp")) == .pending)
        // The cancel is delivered: cancelled.
        model.apply(at: 4, [.operationDelivered(operationID: 2, attempts: 1)])
        #expect(model.tree.status(of: .span("sp")) == .cancelled)
        #expect(model.tree.spans["sp"]?.history.map(\.status) == [.prepared, .pending, .cancelled])
        #expect(lines(model.frame(80, 24))[2].hasPrefix("    ⊘ agent:step"))
        #expect(model.statusCounts.spans[.cancelled] == 1 && model.statusCounts.spans[.pending] == 0)
    }

    @Test func aSnapshotOfADeliveredCancelShowsCancelled() {
        var model = emptyModel()
        var cancelled = span("sp", in: "inst", "agent:step", .cancelled, apiID: "api-sp", prepared: 1, finished: 2)
        cancelled.finishDelivered = true
        model.load(ClientSnapshot(instances: [instance("inst")], spans: [cancelled]))
        #expect(model.tree.status(of: .span("sp")) == .cancelled)
    }

    @Test func aSpanWhoseCreateFailedShowsThatItFailedToSync() {
        var model = emptyModel()
        model.apply(at: 0, [.instanceStarted(instance("inst"))])
        model.apply(at: 1, [.spanStarted(span("sp", in: "inst", "tool:call", .active, payload: ["tool": "shell"], started: 1))])
        let create = createOperation(3, instance: "inst", span: "sp", schema: "tool:call", enqueued: 1)
        model.apply(at: 1, [.operationEnqueued(OperationSnapshot(operation: create, state: .pending))])
        // The client reports a permanent failure as an operation event only.
        model.apply(
            at: 2, [.operationFailed(FailedOperation(operation: create, reason: "HTTP 422: schema mismatch", status: 422))])
        let text = lines(model.frame(100, 30))
        #expect(text[2].hasPrefix("    ✗ tool:call sync failed shell"), "\(text[2])")
        #expect(model.frame(100, 30)[2, 4].style.foreground == .red, "the failed glyph's colour")
        model.selection = .span("sp")
        #expect(detailText(model.frame(100, 30)).contains("sync failed: HTTP 422: schema mismatch"))
        #expect(detailText(model.frame(100, 30)).contains("status   ● active"), "the detail still gives the local status")
        // It is an error for the errors-only view and the roll-up.
        model.press(.character("e"))
        #expect(model.rowIDs == [.instance("inst"), .span("sp")])
        #expect(model.tree.rollUp(.instance("inst")).failed == 1)
        #expect(model.tree.rollUp(.instance("inst")).running == 1)
    }

    @Test func rollUpsDoNotCountPreparedSpansAsRunning() {
        var model = emptyModel()
        model.apply(at: 0, [.instanceStarted(instance("inst"))])
        model.apply(
            at: 1,
            [
                .spanPrepared(span("sp-a", in: "inst", "agent:step", .prepared, prepared: 1)),
                .spanPrepared(span("sp-b", in: "inst", "agent:step", .prepared, prepared: 1)),
            ])
        let rollUp = model.tree.rollUp(.instance("inst"))
        #expect(rollUp.spans == 2 && rollUp.running == 0 && rollUp.failed == 0)
        model.press(.character("-"))
        let row = lines(model.frame(80, 24))[1]
        #expect(row.contains("[2]") && !row.contains("●2"), "\(row)")
    }
}

@Suite("Screen contract: header, bar, queue")
struct ChromeContractTests {
    @Test func headerCountsRunsAndSpansByStatus() {
        let header = lines(richModel().frame(160, 48))[0]
        #expect(header.contains("3 runs ●1 ○1 ■1"), "\(header)")
        #expect(header.contains("8 spans ●2 ○1 ◌1 ✓2 ✗1 ⊘1"), "\(header)")
        // At 80 columns the counts stay whole; the endpoint gives way.
        let narrow = lines(richModel(demo: .running).frame(80, 24))[0]
        #expect(narrow.contains("3 runs ●1 ○1 ■1  8 spans ●2 ○1 ◌1 ✓2 ✗1 ⊘1"), "\(narrow)")
        #expect(narrow.hasSuffix("demo running"), "\(narrow)")
        #expect(TextWidth.columns(of: narrow) <= 80)
        // Singular and plural.
        var one = emptyModel()
        one.apply(at: 0, [.instanceStarted(instance("inst"))])
        one.apply(at: 1, [.spanStarted(span("sp", in: "inst", "tool:call", .active, started: 1))])
        let single = lines(one.frame(100, 30))[0]
        #expect(single.contains("1 run ●1  1 span ●1"), "\(single)")
        #expect(!single.contains("1 runs") && !single.contains("1 spans"))
        #expect(lines(emptyModel().frame(100, 30))[0].contains("0 runs  0 spans"))
    }

    @Test func theEndpointShrinksBeforeTheCounts() {
        #expect(lines(richModel().frame(160, 48))[0].hasPrefix("prefactor  http://127.0.0.1:8080 [ok]  3 runs"))
        #expect(lines(richModel().frame(80, 24))[0].hasPrefix("prefactor  127.0.0.1:8080 [ok]  3 runs"), "without its scheme")
        #expect(lines(richModel(demo: .running).frame(80, 24))[0].hasPrefix("prefactor [ok]  3 runs"), "left out")
        var remote = richModel()
        remote.apiURL = "https://api.prefactorai.example.com"
        #expect(lines(remote.frame(80, 24))[0].hasPrefix("prefactor  api.prefactorai.exa… [ok]"), "cut short")
    }

    @Test func theMiniBarShowsAt80Columns() {
        var model = richModel()
        model.press(.down, .down)
        let frame = model.frame(80, 24)
        let row = lines(frame)[3]  // llm:chat, 2 s to 5.5 s of a run 19.5 s long
        #expect(row.contains("3.5s ━━") || row.contains("3.5s ·━"), "\(row)")
        let geometry = Geometry(width: 80, height: 24, queueFocused: false)
        let bar = (geometry.treeWidth - 6..<geometry.treeWidth).map { frame[3, $0].text }.joined()
        #expect(bar.count == 6 && bar.allSatisfy { $0 == "━" || $0 == "·" }, "\(bar)")
        // And at the minimum size.
        let small = lines(model.frame(60, 14))[3]
        #expect(small.contains("━"), "\(small)")
    }

    @Test func theQueueListGrowsWithTheScreenAndWhileTheAPIFails() {
        #expect(Geometry(width: 80, height: 24, queueFocused: false).queueHeight == 2, "80x24 keeps a one-line list")
        #expect(Geometry(width: 160, height: 48, queueFocused: false).queueHeight == 5, "larger screens get more of it")
        #expect(Geometry(width: 80, height: 24, queueFocused: false, apiFailing: true).queueHeight == 4)
        #expect(Geometry(width: 80, height: 24, queueFocused: true).queueHeight == 8, "focus still expands it most")
        // While the API fails, the backlog shows without Tab.
        let text = lines(richModel(health: .retrying).frame(80, 24))
        #expect(text.contains { $0.contains("#44 create_span") })
        #expect(text.contains { $0.contains("#41 create_span") })
        #expect(text.contains { $0.contains("#42 finish_span") })
        #expect(!lines(richModel().frame(80, 24)).contains { $0.contains("#41 create_span") })
    }
}

@Suite("Screen contract: keys")
struct KeyContractTests {
    @Test func helpOverlayHasABorderAndScrollsWhenTooShort() {
        var model = richModel()
        model.press(.character("?"))
        let keys = Layout.helpLines.count
        let tall = lines(model.frame(80, keys + 5))
        #expect(tall.contains { $0.contains("┌─ Keys ─") }, "\(tall)")
        #expect(tall.contains { $0.contains("└─ any key closes ─") })
        #expect(tall.contains { $0.contains("q                 quit") })
        // 80x14: the list does not fit; j, G and g scroll it; the footer says so.
        model.resize(80, 14)
        var short = lines(model.frame(80, 14))
        #expect(short.contains { $0.contains("1-10/\(keys)") && $0.contains("scroll") }, "\(short)")
        #expect(!short.contains { $0.contains("q                 quit") })
        model.press(.character("j"))
        #expect(model.showHelp && model.helpScroll == 1)
        model.press(.character("G"))
        short = lines(model.frame(80, 14))
        #expect(short.contains { $0.contains("q                 quit") }, "\(short)")
        #expect(short.contains { $0.contains("\(keys - 9)-\(keys)/\(keys)") })
        #expect(model.selection == .instance(IDs.alpha), "scrolling the help moves nothing else")
        // Any other key closes it and does nothing else.
        #expect(model.handle(.character("x")).isEmpty)
        #expect(!model.showHelp && model.confirmation == nil)
        // When it fits, every key closes it.
        model.resize(80, keys + 5)
        model.press(.character("?"), .character("j"))
        #expect(!model.showHelp)
        #expect(model.selection == .instance(IDs.alpha))
    }

    @Test func asciiHelpBorder() {
        var model = richModel()
        model.press(.character("?"))
        let text = lines(model.frame(80, 24, theme: Theme(unicode: false)))
        #expect(text.contains { $0.contains("+- Keys -") }, "\(text)")
    }

    @Test func actionKeysWorkInEveryPane() {
        var model = richModel()
        model.selection = .span("sp-search")
        for pane in [Pane.detail, .queue] {
            model.focus = pane
            #expect(model.handle(.character("f")) == [.finishSpan("sp-search", .complete)], "\(pane)")
            #expect(model.handle(.character("x")).isEmpty)
            #expect(model.confirmation?.effect == .finishSpan("sp-search", .failed), "\(pane)")
            #expect(model.handle(.character("y")) == [.finishSpan("sp-search", .failed)])
            #expect(model.handle(.character("n")) == [.newInstance])
            model.press(.character("a"))
            #expect(model.prompt?.parentSpanID == "sp-search", "\(pane)")
            model.press(.escape)
            // Movement keys still scroll the focused pane, not the tree.
            model.press(.character("j"))
            #expect(model.selection == .span("sp-search"))
        }
        model.focus = .detail
        model.press(.character("-"))
        #expect(model.rowIDs == [.instance(IDs.alpha), .instance(IDs.beta), .instance(IDs.gamma)])
        let hints = lines(model.frame(100, 30))[29]
        #expect(hints.hasPrefix("↑↓ scroll Tab next pane f finish x fail c cancel"), "\(hints)")
        // Read-only refuses them in every pane too.
        var readonly = richModel()
        readonly.readonly = true
        readonly.focus = .queue
        readonly.selection = .span("sp-search")
        #expect(readonly.handle(.character("f")).isEmpty)
        #expect(readonly.message?.text.contains("Read-only") == true)
    }
}

@Suite("Screen contract: API health")
struct HealthContractTests {
    @Test func newRunWhileTheAPIFailsChangesTheHealth() async throws {
        try await withTestServer { server in
            server.faults.add(FaultRule(method: "POST", path: "/api/v1/agent_instance/register", status: 503))
            try await withRunningUI(server) { _, backend, controller, ui in
                try await eventually("the first frame") { backend.frameCount > 0 }
                #expect(await controller.currentModel.health == .ok)
                backend.send(.key(.character("n")))
                try await eventually("the header shows the API failing") {
                    backend.lastFrame.map { lines($0)[0].contains("[retrying]") } ?? false
                }
                #expect(await controller.currentModel.message?.text.contains("New run failed") == true)
                // The API answers again: the next new run brings the health back.
                server.faults.removeAll()
                backend.send(.key(.character("n")))
                try await eventually("the header shows the API ok") {
                    backend.lastFrame.map { lines($0)[0].contains("[ok]") } ?? false
                }
                backend.send(.key(.interrupt))
                _ = await ui.value
            }
        }
    }
}
