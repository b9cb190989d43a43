import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorTUI
import PrefactorWire
import Testing

/// The header, the prompt and the screen details tell the truth (issue: a screen you can trust).
@Suite("Trusted screen")
struct TrustedScreenTests {
    // MARK: Health in the header

    @Test(arguments: [
        (APICheckResult.authFailed("the API rejected the token (HTTP 401 unauthorized)"), "[auth failed]"),
        (APICheckResult.unreachable("connection refused at 127.0.0.1:1 - is the API running?"), "[unreachable]"),
        (APICheckResult.notPrefactorAPI("no Prefactor API at h:1"), "[not a Prefactor API]"),
    ])
    func aFailedCheckAtStartShowsFromTheFirstFrame(check: APICheckResult, label: String) {
        var model = emptyModel()
        model.applyCheck(check)
        let frame = lines(model.frame(100, 30))
        #expect(frame[0].contains(label), "\(frame[0])")
        #expect(!frame[0].contains("[ok]"))
        #expect(frame[29].contains(check.explanation!), "the reason is on screen: \(frame[29])")
    }

    @Test func aDeliveryAfterAFailedCheckClearsIt() {
        var model = richModel()
        model.applyCheck(.unreachable("connection refused"))
        #expect(model.shownHealth.label == "unreachable")
        model.apply(at: 21, [.operationDelivered(operationID: 41, attempts: 1)])
        #expect(model.shownHealth.label == "ok")
    }

    @Test func aFailingWatcherShowsInTheHeaderWithItsReason() {
        var model = emptyModel()
        model.remote = RemoteView()
        model.apply(.checked(.authFailed("the API rejected the token (HTTP 401 unauthorized)")))
        model.apply(.failed(message: "the API rejected the token (HTTP 401 unauthorized)", failures: 1, retryAt: at(2)))
        #expect(model.shownHealth.label == "auth failed")
        let frame = lines(model.frame(120, 30))
        #expect(frame[0].contains("[auth failed]"), "\(frame[0])")
        #expect(frame[29].contains("HTTP 401"), "the reason is on the message line: \(frame[29])")
        model.apply(.changes(RemoteChanges(at: at(3))))
        #expect(model.shownHealth.label == "ok")
    }

    // MARK: Queue rows

    @Test func finishRowsNameTheirSpan() {
        var model = richModel()
        model.press(.tab, .tab)
        let text = lines(model.frame(120, 40)).joined(separator: "\n")
        #expect(text.contains("#42 finish_span tool:call"), "\(text)")
        #expect(text.contains("#43 finish_span agent:plan"))
    }

    @Test func deliveryErrorsAreShort() {
        #expect(
            ErrorText.brief("PrefactorHTTPError.api (agent_spans.create) HTTP 503 [injected_fault]: Injected fault")
                == "HTTP 503 injected_fault: Injected fault")
        #expect(
            ErrorText.brief(
                "PrefactorHTTPError.transport (agent_spans.create): connection reset (error set): Connection refused) (errno: 111)"
            )
                == "connection refused")
        let error = PrefactorHTTPError(
            code: .transport, message: "connection reset (error set): Connection refused) (errno: 111)")
        #expect(ErrorText.oneLine(error, endpoint: "127.0.0.1:1") == "connection refused at 127.0.0.1:1 - is the API running?")
    }

    // MARK: ASCII

    @Test func anASCIIFrameIsAllASCII() {
        let theme = Theme(unicode: false)
        var models: [AppModel] = []
        var model = richModel(health: .retrying, demo: .running)
        model.remote = RemoteView()
        model.apply(.failed(message: "HTTP 503 — unavailable", failures: 4, retryAt: at(31)))
        models.append(model)
        var help = richModel()
        help.press(.character("?"))
        models.append(help)
        var prompt = richModel()
        prompt.press(.character("a"))
        models.append(prompt)
        var quitting = richModel()
        quitting.press(.character("q"))
        models.append(quitting)
        var narrow = richModel()
        narrow.press(.down, .down, .down, .down)
        models.append(narrow)
        for (index, model) in models.enumerated() {
            for size in [(80, 24), (60, 14), (160, 48)] {
                let frame = model.frame(size.0, size.1, theme: theme)
                let text = frame.plainText()
                let foreign = text.unicodeScalars.filter { !$0.isASCII }
                #expect(foreign.isEmpty, "model \(index) at \(size): \(String(String.UnicodeScalarView(foreign)))")
            }
        }
    }

    // MARK: Detail pane

    @Test func theDetailFocusNeverCoversTheRunID() {
        var model = richModel()
        model.press(.character("g"))
        #expect(model.selection == .instance(IDs.alpha))
        model.press(.tab)
        #expect(model.focus == .detail)
        for width in [80, 90, 100, 160] {
            let text = lines(model.frame(width, 24)).joined(separator: "\n")
            #expect(text.contains("Run " + IDs.alpha), "at \(width): \(text)")
        }
    }

    // MARK: Too small

    @Test func theTooSmallMessageStartsWithTheSizeNeeded() {
        let model = emptyModel()
        let frame = lines(model.frame(20, 5))
        #expect(frame[0] == "Need 60x14", "\(frame)")
        #expect(frame[1].hasPrefix("(now 20x5):"))
        let wide = lines(model.frame(59, 13))
        #expect(wide[0].hasPrefix("Need 60x14 (now 59x13): terminal too small;"), "\(wide[0])")
    }
}

/// The `a` prompt is a line editor.
@Suite("Prompt line editor")
struct PromptEditorTests {
    func opened() -> AppModel {
        var model = richModel()
        model.press(.character("a"))
        return model
    }

    @Test func theDefaultIsAHintNotText() {
        var model = opened()
        #expect(model.prompt?.text == "")
        #expect(model.prompt?.placeholder == AppModel.defaultSchemaName)
        #expect(lines(model.frame(80, 24))[23].hasPrefix("New span type: agent:step  Enter adds agent:step"))
        // Typing replaces the default instead of appending to it.
        model.type("llm:chat")
        #expect(model.prompt?.text == "llm:chat")
        #expect(model.handle(.enter) == [.addSpan(instanceID: IDs.alpha, parentSpanID: nil, schemaName: "llm:chat")])
        // Enter on an empty prompt takes the default.
        model.press(.character("a"))
        #expect(model.handle(.enter) == [.addSpan(instanceID: IDs.alpha, parentSpanID: nil, schemaName: "agent:step")])
    }

    @Test func cursorAndControlKeysEdit() {
        var model = opened()
        model.type("agent:step llm")
        model.press(.control("w"))
        #expect(model.prompt?.text == "agent:step ")
        model.press(.control("w"))
        #expect(model.prompt?.text == "")
        model.type("tool")
        model.press(.control("a"))
        model.type("my:")
        #expect(model.prompt?.text == "my:tool")
        #expect(model.prompt?.cursor == 3)
        model.press(.control("e"), .left, .backspace)
        #expect(model.prompt?.text == "my:tol")
        model.press(.home, .delete)
        #expect(model.prompt?.text == "y:tol")
        model.press(.right, .right, .control("u"))
        #expect(model.prompt?.text == "tol")
        #expect(model.prompt?.cursor == 0)
        #expect(!model.quitting && model.prompt != nil, "no key typed into the prompt runs a command")
    }

    @Test func historyRecallsEarlierNames() {
        var model = opened()
        model.type("first:one")
        model.press(.enter)
        model.press(.character("a"))
        model.type("second:two")
        model.press(.enter)
        model.press(.character("a"))
        model.press(.up)
        #expect(model.prompt?.text == "second:two")
        model.press(.up)
        #expect(model.prompt?.text == "first:one")
        model.press(.up)
        #expect(model.prompt?.text == "first:one")
        model.press(.down)
        #expect(model.prompt?.text == "second:two")
        model.press(.down)
        #expect(model.prompt?.text == "")
    }
}

/// Actions: what the operator can do, and what happens to open children.
@Suite("Actions that tell")
struct ActionsThatTellTests {
    @Test func pIsDisabledInReadOnlyMode() {
        var model = emptyModel(readonly: true, demo: .running)
        #expect(model.handle(.character("p")).isEmpty)
        #expect(model.message?.text == "Read-only mode: p is disabled")
    }

    @Test func finishingAParentCancelsItsRunningChildrenFirst() {
        var model = richModel()
        model.press(.down)
        #expect(model.selection == .span("sp-plan"))
        // sp-search is running under it: it is cancelled first.
        #expect(model.handle(.character("f")).isEmpty)
        let question = model.confirmation?.question ?? ""
        #expect(question == "Finish span agent:plan? 1 running span under it is cancelled first. (y/n)", "\(question)")
        #expect(model.handle(.character("y")) == [.finishSpan("sp-search", .cancelled), .finishSpan("sp-plan", .complete)])
    }

    @Test func finishingARunCancelsItsRunningSpansFirstDeepestFirst() {
        var model = richModel(health: .ok)
        model.noConfirm = true
        model.press(.character("g"))
        #expect(model.selection == .instance(IDs.alpha))
        let effects = model.handle(.character("x"))
        #expect(
            effects == [
                .finishSpan("sp-search", .cancelled), .finishSpan("sp-plan", .cancelled), .finishInstance(IDs.alpha, .failed),
            ])
        #expect(model.message?.text == "Cancelling 2 running span(s) under it first")
    }

    @Test func aSpanWithOnlyAPreparedChildFinishesAsBefore() {
        var model = richModel()
        model.selection = .span("sp-search")
        #expect(model.openDescendants(of: .span("sp-search")).isEmpty, "sp-next never started")
        #expect(model.handle(.character("f")) == [.finishSpan("sp-search", .complete)])
    }
}

/// What the screen counts and shows agrees with what it lists and what the API reported.
@Suite("Counts and vanished runs")
struct CountsAndVanishedRunsTests {
    func watching() -> AppModel {
        var model = emptyModel()
        model.remote = RemoteView()
        model.resize(120, 30)
        return model
    }

    @Test func theQueueStripCountsWhatItLists() {
        // An operation whose queue counts have not arrived yet (they come as a separate event).
        var model = emptyModel()
        let operation = OperationSnapshot(
            operation: finishOperation(564, instance: "ai_1", span: "sp_1", enqueued: 1), state: .pending)
        model.apply(at: 1, [.operationEnqueued(operation)])
        #expect(model.queue.pending == 0)
        let strip = lines(model.frame(100, 30)).first { $0.hasPrefix("queue ") } ?? ""
        #expect(strip.hasPrefix("queue pending 1 in flight 0 retrying 0"), "\(strip)")
    }

    @Test func theHeaderCountsTheSpansTheAPIReportedForFoldedRuns() {
        var model = watching()
        model.apply(
            changes(instances: [
                remoteInstance("ai_a", spans: SpanCounts(total: 8, active: 2, complete: 6)),
                remoteInstance(
                    "ai_b", .complete, finished: 1, spans: SpanCounts(total: 14, complete: 13, failed: 1, finished: 14)),
            ]))
        let header = lines(model.frame(120, 30))[0]
        #expect(header.contains("22 spans ●2 ✓19 ✗1"), "\(header)")
    }

    @Test func expandAllLoadsFoldedRemoteRuns() {
        var model = watching()
        model.apply(changes(instances: [remoteInstance("ai_a"), remoteInstance("ai_b", .complete, finished: 1)]))
        #expect(model.needsRemoteSpans(.instance("ai_b")))
        #expect(model.handle(.character("=")) == [.loadRemoteSpans("ai_a"), .loadRemoteSpans("ai_b")])
    }

    @Test func aRunTheAPINoLongerHasIsMarkedGoneAndStopsTicking() {
        var model = watching()
        model.apply(
            changes(instances: [remoteInstance("ai_gone")], spans: [remoteSpan("sp_g", in: "ai_gone")], loaded: ["ai_gone"]))
        model.tick(at(5))
        model.apply(.gone(instanceID: "ai_gone", reason: "the API no longer has this run (HTTP 404)"))
        #expect(model.tree.status(of: .instance("ai_gone")) == .gone)
        #expect(model.message?.text == "Run ai_gone is gone: the API no longer has this run (HTTP 404)")
        let first = lines(model.frame(120, 30))
        model.tick(at(65))
        let later = lines(model.frame(120, 30))
        let row = first.first { $0.contains("run ai_gone") } ?? ""
        #expect(row.contains("? run ai_gone"), "\(row)")
        #expect(row.contains("gone from the API"), "\(row)")
        #expect(first[1...3] == later[1...3], "the rows of a gone run no longer tick")
        #expect(!model.needsRemoteSpans(.instance("ai_gone")))
    }

    @Test func startingAChildOfAPreparedParentSaysSo() {
        var model = emptyModel()
        model.apply(at: 0, [.instanceStarted(instance("ai_p"))])
        model.apply(
            at: 1,
            [
                .spanPrepared(span("sp_parent", in: "ai_p", "agent:plan", .prepared, prepared: 1)),
                .spanPrepared(span("sp_child", in: "ai_p", parent: "sp_parent", "llm:chat", .prepared, prepared: 1)),
            ])
        model.selection = .span("sp_child")
        #expect(model.handle(.character("s")) == [.startSpan("sp_child")])
        #expect(model.message?.text == "Starting it starts its prepared parent(s) too: agent:plan")
    }
}

/// The visible rows follow a growing tree by insertion, and end up exactly as a rebuild would make them.
@Suite("Incremental rows")
struct IncrementalRowsTests {
    /// Spans under pseudo-random parents of three runs (a fixed sequence), some folded.
    func events(count: Int) -> [ClientEvent] {
        var events: [ClientEvent] = (0..<3).map { .instanceStarted(instance("ai_\($0)")) }
        var state: UInt64 = 42
        for index in 0..<count {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let parent = index == 0 || state % 4 == 0 ? nil : "s\(Int(state >> 33) % index)"
            let run = "ai_\(Int(state >> 40) % 3)"
            let instanceID =
                parent.flatMap { id in
                    events.lazy.compactMap { event -> String? in
                        if case .spanStarted(let span) = event, span.id == id { return span.instanceID }
                        return nil
                    }.first
                } ?? run
            events.append(
                .spanStarted(span("s\(index)", in: instanceID, parent: parent, "step", .active, started: Double(index))))
        }
        return events
    }

    @Test func addedSpansAreInsertedAndMatchARebuild() {
        let all = events(count: 300)
        var model = emptyModel()
        model.apply(Array(all.prefix(40)))
        model.collapsed.insert(.span("s3"))
        model.refreshRows()
        let rebuilds = model.rowRebuilds
        for event in all.dropFirst(40) {
            model.apply([event])  // refreshes the rows
        }
        #expect(model.rowRebuilds == rebuilds, "spans appended under their parents are inserted, not rebuilt")
        var fresh = emptyModel()
        fresh.collapsed = model.collapsed
        fresh.apply(all)
        #expect(model.rows == fresh.rows)
        for (index, row) in model.rows.enumerated() { #expect(model.rowIndex(of: row.node) == index) }
    }

    @Test func aNewRunIsAppendedAndOtherChangesRebuild() {
        var model = emptyModel()
        model.apply(events(count: 30))
        let rebuilds = model.rowRebuilds
        model.apply([.instanceStarted(instance("ai_new"))])
        #expect(model.rowRebuilds == rebuilds, "a new run's row goes at the end")
        #expect(model.rows.last?.node == .instance("ai_new"))
        // A fold changes which rows show: they are rebuilt.
        model.collapsed.insert(.instance("ai_0"))
        model.refreshRows()
        #expect(model.rowRebuilds == rebuilds + 1)
        var fresh = emptyModel()
        fresh.collapsed = model.collapsed
        fresh.apply(events(count: 30) + [.instanceStarted(instance("ai_new"))])
        #expect(model.rows == fresh.rows)
    }
}
