import Foundation
import PrefactorCore
import PrefactorTUI
import PrefactorWire
import Testing

/// A run with `count` root spans, all complete, at `t0`.
func longModel(count: Int = 60, readonly: Bool = false) -> AppModel {
    var model = emptyModel(readonly: readonly)
    model.apply(at: 0, [.instanceStarted(instance("inst-long"))])
    model.apply(
        at: 1,
        (0..<count).map { index in
            .spanFinished(
                span(String(format: "sp-%03d", index), in: "inst-long", "agent:step", .complete, started: 0.5, finished: 1))
        })
    model.resize(80, 24)
    return model
}

// MARK: Movement

@Suite("Reducer: movement")
struct MovementTests {
    @Test func downUpAndClamping() {
        var model = richModel()
        model.resize(80, 24)
        #expect(model.selection == .instance(IDs.alpha))
        #expect(model.rowIDs.count == 11)
        model.press(.up)
        #expect(model.selection == .instance(IDs.alpha), "clamped at the top")
        model.press(.character("j"))
        #expect(model.selection == .span("sp-plan"))
        model.press(.down)
        #expect(model.selection == .span("sp-llm"))
        model.press(.character("k"))
        #expect(model.selection == .span("sp-plan"))
        model.press(.character("G"))
        #expect(model.selection == .instance(IDs.gamma))
        model.press(.down, .character("j"), .pageDown)
        #expect(model.selection == .instance(IDs.gamma), "clamped at the bottom")
        model.press(.character("g"))
        #expect(model.selection == .instance(IDs.alpha))
        model.press(.end)
        #expect(model.selection == .instance(IDs.gamma))
        model.press(.home)
        #expect(model.selection == .instance(IDs.alpha))
    }

    @Test func pagesAndScroll() {
        var model = longModel()
        // 20 body rows at 80x24; the tree overflows, so its last line shows the position.
        let page = model.treeRowsVisible
        #expect(page == 19)
        #expect(model.rowIDs.count == 61)
        model.press(.pageDown)
        #expect(model.selectedIndex == page - 1)
        #expect(model.scroll == 0)
        model.press(.pageDown)
        #expect(model.selectedIndex == 2 * (page - 1))
        #expect(model.scroll == model.selectedIndex! - page + 1, "the selection is kept on screen")
        model.press(.pageDown, .pageDown, .pageDown)
        #expect(model.selectedIndex == 60)
        #expect(model.scroll == 61 - page)
        model.press(.pageUp)
        #expect(model.selectedIndex == 60 - (page - 1))
        #expect(model.scroll == 61 - page, "scroll only moves when the selection leaves the screen")
        model.press(.pageUp, .pageUp, .pageUp, .pageUp)
        #expect(model.selectedIndex == 0)
        #expect(model.scroll == 0)
        model.press(.character("G"))
        #expect(model.scroll == 61 - page)
        // The frame shows the selected row on the last tree line and the position below it, hiding no row.
        let frame = model.frame(80, 24)
        let text = lines(frame)
        #expect(text[page].contains("agent:step"))
        #expect(frame[page, 0].style.reverse, "the last tree row is the selection")
        #expect(text[page + 1].hasSuffix("\(61 - page + 1)-61/61│"), "\(text[page + 1])")
        #expect(!text[page + 1].contains("agent:step"))
    }

    @Test func emptyTreeMovesNowhere() {
        var model = emptyModel()
        model.resize(80, 24)
        #expect(model.press(.down, .up, .pageDown, .character("G"), .character("g"), .left, .right, .character(" ")).isEmpty)
        #expect(model.selection == nil)
        #expect(model.handle(.character("a")).isEmpty)
        #expect(model.message?.text == "Nothing selected")
    }
}

// MARK: Folding

@Suite("Reducer: folding")
struct FoldingTests {
    @Test func collapseExpandToggle() {
        var model = richModel()
        model.resize(80, 24)
        model.press(.down)  // agent:plan
        #expect(model.selection == .span("sp-plan"))
        model.press(.character("h"))
        #expect(model.collapsed.contains(.span("sp-plan")))
        #expect(
            model.rowIDs == [
                .instance(IDs.alpha), .span("sp-plan"), .span("sp-skip"), .instance(IDs.beta), .span("sp-beta"),
                .instance(IDs.gamma),
            ])
        // A collapsed row shows its roll-up: 5 spans below, 1 running (the prepared one has not started), 1 failed.
        let text = lines(model.frame(80, 24))
        #expect(text[2].contains("▸ ● agent:plan [5 ●1 ✗1]"), "\(text[2])")
        // h on a collapsed node moves to its parent.
        model.press(.left)
        #expect(model.selection == .instance(IDs.alpha))
        model.press(.down, .character("l"))
        #expect(!model.collapsed.contains(.span("sp-plan")))
        #expect(model.rowIDs.count == 11)
        model.press(.character(" "))
        #expect(model.collapsed.contains(.span("sp-plan")))
        model.press(.right)
        #expect(model.rowIDs.count == 11)
        // h on a leaf moves to its parent; space on a leaf does nothing.
        model.press(.down)
        #expect(model.selection == .span("sp-llm"))
        model.press(.character(" "))
        #expect(model.collapsed.isEmpty)
        model.press(.character("h"))
        #expect(model.selection == .span("sp-plan"))
    }

    @Test func collapseAllAndExpandAll() {
        var model = richModel()
        model.resize(80, 24)
        model.press(.down, .down, .down, .down)  // sp-search
        #expect(model.selection == .span("sp-search"))
        model.press(.character("-"))
        #expect(model.rowIDs == [.instance(IDs.alpha), .instance(IDs.beta), .instance(IDs.gamma)])
        #expect(model.selection == .instance(IDs.alpha), "the selection moves to its run")
        let text = lines(model.frame(80, 24))
        #expect(text[1].contains("▸ ● run inst_a…7f3a9c [7 ●2 ✗1]"), "\(text[1])")
        #expect(text[2].hasPrefix("▸ ■ run inst_beta_0002"))
        #expect(text[2].contains("[1]"), "a collapsed run shows its roll-up even with a long summary: \(text[2])")
        model.press(.character("="))
        #expect(model.collapsed.isEmpty)
        #expect(model.rowIDs.count == 11)
        #expect(model.selection == .instance(IDs.alpha))
    }
}

// MARK: Focus, filter, errors, follow

@Suite("Reducer: panes and views")
struct ViewStateTests {
    @Test func tabCyclesFocus() {
        var model = richModel()
        #expect(model.focus == .tree)
        model.press(.tab)
        #expect(model.focus == .detail)
        model.press(.tab)
        #expect(model.focus == .queue)
        model.press(.tab)
        #expect(model.focus == .tree)
        model.press(.backTab)
        #expect(model.focus == .queue)
        model.press(.backTab, .backTab)
        #expect(model.focus == .tree)
        // j/k scroll the focused pane, not the tree.
        model.press(.tab, .character("j"), .character("j"))
        #expect(model.detailScroll == 2)
        #expect(model.selection == .instance(IDs.alpha))
        // In the queue they select an operation (the list scrolls to keep it in view).
        model.press(.tab, .pageDown)
        #expect(model.queueSelection == model.queueItems.last?.id)
        model.press(.character("g"))
        #expect(model.queueSelection == model.queueItems.first?.id)
    }

    @Test func filterTypingEnterKeepsEscClears() {
        var model = richModel()
        model.resize(80, 24)
        model.press(.character("/"))
        #expect(model.filterEditing)
        model.type("tool")
        #expect(model.filter == "tool")
        #expect(model.rowIDs == [.instance(IDs.alpha), .span("sp-plan"), .span("sp-tool"), .span("sp-cancel")])
        // While typing, letters are text, not commands.
        model.press(.backspace)
        model.type("l")
        #expect(model.filter == "tool")
        #expect(model.collapsed.isEmpty)
        model.press(.enter)
        #expect(!model.filterEditing)
        #expect(model.filter == "tool")
        #expect(model.rowIDs.count == 4)
        // j moves again once the filter is kept.
        model.press(.character("j"))
        #expect(model.selection == .span("sp-plan"))
        model.press(.escape)
        #expect(model.filter.isEmpty)
        #expect(model.rowIDs.count == 11)
        #expect(model.selection == .span("sp-plan"))
        // Esc while typing clears at once.
        model.press(.character("/"))
        model.type("web_search")
        #expect(model.rowIDs == [.instance(IDs.alpha), .span("sp-plan"), .span("sp-tool")])
        model.press(.escape)
        #expect(!model.filterEditing)
        #expect(model.filter.isEmpty)
        #expect(model.rowIDs.count == 11)
    }

    @Test func filterMatchesPayloadAndIDs() {
        var model = richModel()
        model.press(.character("/"))
        model.type("haiku")  // payload text
        #expect(model.rowIDs == [.instance(IDs.alpha), .span("sp-plan"), .span("sp-search"), .span("sp-next")])
        model.press(.escape, .character("/"))
        model.type("api-beta")  // API id
        #expect(model.rowIDs == [.instance(IDs.beta), .span("sp-beta")])
        model.press(.escape, .character("/"))
        model.type("GAMMA")  // instance id, case-insensitive
        #expect(model.rowIDs == [.instance(IDs.gamma)])
        model.press(.escape, .character("/"))
        model.type("nothing-like-this")
        #expect(model.rowIDs.isEmpty)
        #expect(lines(model.frame(80, 24))[1].contains("Nothing matches the filter. Esc clears it."))
    }

    @Test func errorsOnlyKeepsFailuresWithAncestors() {
        var model = richModel()
        model.press(.character("e"))
        #expect(model.errorsOnly)
        // sp-skip was cancelled before it started and its cancel is not delivered yet: it is pending, not an error.
        #expect(
            model.rowIDs == [.instance(IDs.alpha), .span("sp-plan"), .span("sp-tool"), .span("sp-cancel"), .instance(IDs.beta)])
        #expect(model.message?.text.contains("Errors only") == true)
        model.press(.character("e"))
        #expect(!model.errorsOnly)
        #expect(model.rowIDs.count == 11)
        // Errors only ignores folds, so failures inside collapsed nodes show.
        model.press(.character("-"), .character("e"))
        #expect(model.rowIDs.contains(.span("sp-tool")))
        model.press(.character("e"))
        #expect(model.rowIDs == [.instance(IDs.alpha), .instance(IDs.beta), .instance(IDs.gamma)])
        model.press(.character("="))
        model.press(.character("e"), .escape)
        #expect(!model.errorsOnly, "Esc leaves the errors-only view")
    }

    @Test func followSelectsNewestAndManualMoveTurnsItOff() {
        var model = richModel()
        model.resize(80, 24)
        model.press(.character("F"))
        #expect(model.follow)
        #expect(model.selection == .span("sp-skip"), "the most recent change (cancelled at t+12)")
        model.apply(at: 21, [.spanStarted(span("sp-new", in: IDs.alpha, parent: "sp-search", "tool:call", .active, started: 21))])
        #expect(model.selection == .span("sp-new"))
        // Two changes in the same tick: the later one wins.
        model.apply(
            at: 21,
            [
                .spanStarted(span("sp-a", in: IDs.beta, "tool:call", .active, started: 21)),
                .spanStarted(span("sp-b", in: IDs.alpha, "tool:call", .active, started: 21)),
            ])
        #expect(model.selection == .span("sp-b"))
        model.apply(at: 21, [.spanFinished(span("sp-a", in: IDs.beta, "tool:call", .complete, started: 21, finished: 21))])
        #expect(model.selection == .span("sp-a"))
        // Any manual move turns follow off.
        for key in [
            Key.down, .up, .character("j"), .character("k"), .pageUp, .pageDown, .character("g"), .character("G"), .home, .end,
        ] {
            model.follow = true
            model.press(key)
            #expect(!model.follow, "\(key) turns follow off")
        }
        model.selection = .span("sp-new")
        model.follow = true
        model.press(.character("h"))
        #expect(model.selection == .span("sp-search"))
        #expect(!model.follow, "moving to the parent turns follow off")
        let selected = model.selection
        model.apply(at: 22, [.spanStarted(span("sp-later", in: IDs.alpha, "tool:call", .active, started: 22))])
        #expect(model.selection == selected)
    }

    @Test func followKeepsTheNewestInView() {
        var model = longModel()
        model.press(.character("F"))
        model.apply(at: 2, [.spanStarted(span("sp-zzz", in: "inst-long", "tool:call", .active, started: 2))])
        #expect(model.selection == .span("sp-zzz"))
        #expect(model.selectedIndex == 61)
        #expect(model.scroll == 61 - model.treeRowsVisible + 1)
    }
}

// MARK: Live updates

@Suite("Reducer: live updates")
struct LiveUpdateTests {
    @Test func liveEventsKeepSelectionAndScroll() {
        var model = longModel()
        model.press(.pageDown, .pageDown, .up, .up, .up, .up, .up)  // mid-screen, scrolled
        #expect(model.scroll > 2)
        #expect(model.selectedIndex! - model.scroll > 2 && model.selectedIndex! - model.scroll < model.treeRowsVisible - 2)
        let selected = model.selection
        let scroll = model.scroll
        let offset = model.selectedIndex! - model.scroll
        let top = model.rowIDs[model.scroll]
        // Appended below, status changes, a new run, queue traffic.
        model.apply(
            at: 2,
            [
                .spanStarted(span("sp-zzz", in: "inst-long", "tool:call", .active, started: 2)),
                .spanFinished(span("sp-040", in: "inst-long", "agent:step", .failed, started: 0.5, finished: 2)),
                .instanceStarted(instance("inst-other", started: 2)),
                .spanStarted(span("sp-other", in: "inst-other", "tool:call", .active, started: 2)),
                .queueChanged(QueueStats(pending: 3)),
                .healthChanged(.retrying),
            ])
        #expect(model.selection == selected)
        #expect(model.scroll == scroll)
        // A span inserted above the screen: the selected row and the rows on screen stay where they were.
        model.apply(at: 3, [.spanStarted(span("sp-000a", in: "inst-long", parent: "sp-000", "tool:call", .active, started: 3))])
        #expect(model.selection == selected)
        #expect(model.selectedIndex! - model.scroll == offset)
        #expect(model.rowIDs[model.scroll] == top)
        // The frame agrees.
        let frame = lines(model.frame(80, 24))
        #expect(frame[1 + offset].contains("agent:step"))
        #expect(model.frame(80, 24)[1 + offset, 2].style.reverse)
    }

    @Test func liveEventsDoNotMoveTheSelectionFromTheTop() {
        var model = richModel()
        model.resize(80, 24)
        model.press(.down, .down)
        model.apply(at: 21, [.spanStarted(span("sp-late", in: IDs.gamma, "tool:call", .active, started: 21))])
        #expect(model.selection == .span("sp-llm"))
        #expect(model.scroll == 0)
    }

    @Test func childBeforeParentByLocalID() {
        var model = emptyModel()
        model.apply(at: 0, [.instanceStarted(instance("inst"))])
        model.apply(at: 1, [.spanStarted(span("child", in: "inst", parent: "parent", "llm:chat", .active, started: 1))])
        #expect(model.tree.parent(of: .span("child")) == .instance("inst"))
        #expect(model.rows.map(\.depth) == [0, 1])
        model.apply(at: 2, [.spanStarted(span("parent", in: "inst", "agent:plan", .active, started: 0.5))])
        #expect(model.tree.parent(of: .span("child")) == .span("parent"))
        #expect(model.rowIDs == [.instance("inst"), .span("parent"), .span("child")])
        #expect(model.rows.map(\.depth) == [0, 1, 2])
        #expect(model.tree.children[.instance("inst")] == ["parent"])
    }

    @Test func childBeforeParentByAPIID() {
        var model = emptyModel()
        model.apply(at: 0, [.instanceStarted(instance("inst"))])
        // The parent is known locally but not yet delivered; the child (e.g. from another process) names its API id.
        model.apply(at: 1, [.spanStarted(span("parent", in: "inst", "agent:plan", .active, started: 1))])
        model.apply(
            at: 2,
            [.spanStarted(span("child", in: "inst", parent: "api-parent", "llm:chat", .active, apiID: "api-child", started: 2))])
        #expect(model.tree.parent(of: .span("child")) == .instance("inst"))
        #expect(model.rowIDs == [.instance("inst"), .span("parent"), .span("child")])
        #expect(model.rows.map(\.depth) == [0, 1, 1])
        // The parent's create is delivered: now the child knows where it goes.
        model.apply(at: 3, [.spanResolved(span("parent", in: "inst", "agent:plan", .active, apiID: "api-parent", started: 1))])
        #expect(model.tree.parent(of: .span("child")) == .span("parent"))
        #expect(model.rows.map(\.depth) == [0, 1, 2])
        // A later child naming the API id goes straight under it.
        model.apply(at: 4, [.spanStarted(span("child2", in: "inst", parent: "api-parent", "tool:call", .active, started: 4))])
        #expect(model.tree.parent(of: .span("child2")) == .span("parent"))
    }

    @Test func spanOfAnUnknownRunShowsAtOnce() {
        var model = emptyModel()
        model.apply(at: 1, [.spanStarted(span("orphan", in: "inst-unknown", "llm:chat", .active, started: 1))])
        #expect(model.rowIDs == [.instance("inst-unknown"), .span("orphan")])
        model.apply(at: 2, [.instanceStarted(instance("inst-unknown", started: 0.5))])
        #expect(model.rowIDs == [.instance("inst-unknown"), .span("orphan")])
        #expect(model.tree.instances["inst-unknown"]?.instance.agentID == "agent-1")
    }

    @Test func pendingSelectionSelectsWhenTheNodeAppears() {
        var model = richModel()
        model.follow = true
        model.pendingSelection = .span("sp-created")
        model.apply(at: 21, [.queueChanged(QueueStats())])
        #expect(model.pendingSelection == .span("sp-created"))
        model.apply(at: 21, [.spanPrepared(span("sp-created", in: IDs.gamma, "agent:step", .prepared, prepared: 21))])
        #expect(model.selection == .span("sp-created"))
        #expect(model.pendingSelection == nil)
        #expect(!model.follow, "selecting what the operator created turns follow off")
    }

    @Test func ticksMoveDurationsAndTheSparkline() {
        var model = richModel()
        let before = lines(model.frame(80, 24))[1]
        #expect(before.contains("19.5s"))
        model.tick(at(21))
        let after = lines(model.frame(80, 24))[1]
        #expect(after.contains("20.5s"))
        #expect(model.throughput.suffix(5) == [3, 8, 5, 0, 2])
    }

    @Test func loadKeepsInterfaceState() {
        var model = richModel()
        model.press(.down, .down)
        model.collapsed.insert(.instance(IDs.beta))
        let snapshot = ClientSnapshot(
            instances: [instance(IDs.alpha), instance(IDs.beta, .terminated, started: 3, finished: 13)],
            spans: [
                span("sp-plan", in: IDs.alpha, "agent:plan", .active, started: 1),
                span("sp-llm", in: IDs.alpha, parent: "sp-plan", "llm:chat", .complete, started: 2, finished: 5.5),
            ],
            queue: QueueStats(pending: 1), health: .retrying)
        model.load(snapshot)
        #expect(model.selection == .span("sp-llm"))
        #expect(model.collapsed.contains(.instance(IDs.beta)))
        #expect(model.rowIDs == [.instance(IDs.alpha), .span("sp-plan"), .span("sp-llm"), .instance(IDs.beta)])
        #expect(model.health == .retrying)
        #expect(model.queue.pending == 1)
        #expect(model.operations.isEmpty)
    }
}

// MARK: Actions

@Suite("Reducer: actions")
struct ActionTests {
    @Test func newInstance() {
        var model = richModel()
        #expect(model.handle(.character("n")) == [.newInstance])
        var empty = emptyModel()
        #expect(empty.handle(.character("n")) == [.newInstance], "works with nothing selected")
    }

    @Test func addSpanUnderAnInstance() {
        var model = richModel()
        #expect(model.handle(.character("a")).isEmpty)
        #expect(model.prompt?.label == "New span type")
        #expect(model.prompt?.text == "")
        #expect(model.prompt?.placeholder == "agent:step")
        #expect(model.prompt?.instanceID == IDs.alpha)
        #expect(model.prompt?.parentSpanID == nil)
        #expect(lines(model.frame(80, 24))[23].hasPrefix("New span type: agent:step"))
        // Typing while the prompt is open edits the text, never runs commands.
        model.type("agent:plan q")
        #expect(model.prompt?.text == "agent:plan q")
        #expect(!model.quitting)
        model.press(.backspace, .backspace)
        #expect(model.handle(.enter) == [.addSpan(instanceID: IDs.alpha, parentSpanID: nil, schemaName: "agent:plan")])
        #expect(model.prompt == nil)
    }

    @Test func addSpanUnderASpan() {
        var model = richModel()
        model.press(.down, .down, .down, .down)
        #expect(model.selection == .span("sp-search"))
        model.press(.character("a"))
        #expect(model.prompt?.parentSpanID == "sp-search")
        #expect(model.handle(.enter) == [.addSpan(instanceID: IDs.alpha, parentSpanID: "sp-search", schemaName: "agent:step")])
    }

    @Test func addSpanPromptEscAndEmpty() {
        var model = richModel()
        model.press(.character("a"), .escape)
        #expect(model.prompt == nil)
        #expect(model.message?.text == "Cancelled")
        // Nothing typed: Enter takes the default shown as the hint; spaces alone count as nothing.
        model.press(.character("a"))
        for _ in 0..<20 { model.press(.backspace) }
        model.type("   ")
        #expect(
            model.handle(.enter) == [.addSpan(instanceID: IDs.alpha, parentSpanID: nil, schemaName: AppModel.defaultSchemaName)])
    }

    @Test func addSpanRefusedOnAFinishedRun() {
        var model = richModel()
        model.selection = .instance(IDs.beta)
        #expect(model.handle(.character("a")).isEmpty)
        #expect(model.prompt == nil)
        #expect(model.message?.isError == true)
    }

    @Test func startOnlyPreparedSpans() {
        var model = richModel()
        model.selection = .span("sp-next")
        #expect(model.handle(.character("s")) == [.startSpan("sp-next")])
        for node in [NodeID.span("sp-search"), .span("sp-llm"), .span("sp-skip"), .instance(IDs.alpha)] {
            model.selection = node
            #expect(model.handle(.character("s")).isEmpty, "\(node)")
            #expect(model.message?.isError == true)
        }
    }

    @Test func finishRunningSpanOrInstance() {
        var model = richModel()
        model.selection = .span("sp-search")
        #expect(model.handle(.character("f")) == [.finishSpan("sp-search", .complete)])
        model.selection = .instance(IDs.alpha)
        // Its running spans are cancelled first (it asks).
        #expect(model.handle(.character("f")).isEmpty)
        #expect(
            model.handle(.character("y")) == [
                .finishSpan("sp-search", .cancelled), .finishSpan("sp-plan", .cancelled), .finishInstance(IDs.alpha, .complete),
            ])
        for node in [NodeID.span("sp-next"), .span("sp-llm"), .span("sp-tool"), .instance(IDs.beta)] {
            model.selection = node
            #expect(model.handle(.character("f")).isEmpty, "\(node)")
            #expect(model.message?.isError == true)
        }
    }

    @Test func failAsksFirst() {
        var model = richModel()
        model.selection = .span("sp-search")
        #expect(model.handle(.character("x")).isEmpty)
        #expect(model.confirmation?.effect == .finishSpan("sp-search", .failed))
        #expect(lines(model.frame(80, 24))[23] == "Fail span retrieval:search? (y/n)")
        #expect(model.handle(.character("y")) == [.finishSpan("sp-search", .failed)])
        #expect(model.confirmation == nil)
        // n (or any other key) answers no.
        model.press(.character("x"))
        #expect(model.handle(.character("n")).isEmpty)
        #expect(model.confirmation == nil)
        #expect(model.message?.text == "Cancelled")
        model.press(.character("x"))
        #expect(model.handle(.escape).isEmpty)
        #expect(model.message?.text == "Cancelled")
        // The run.
        model.selection = .instance(IDs.alpha)
        model.press(.character("x"))
        #expect(
            model.handle(.character("Y")) == [
                .finishSpan("sp-search", .cancelled), .finishSpan("sp-plan", .cancelled), .finishInstance(IDs.alpha, .failed),
            ])
    }

    @Test func cancelAsksFirstAndTakesTheUnstartedPath() {
        var model = richModel()
        model.selection = .span("sp-search")
        model.press(.character("c"))
        #expect(model.handle(.character("y")) == [.finishSpan("sp-search", .cancelled)])
        model.selection = .span("sp-next")
        model.press(.character("c"))
        #expect(model.confirmation?.question.contains("before it starts") == true)
        #expect(model.handle(.character("y")) == [.cancelUnstarted("sp-next")])
        model.press(.character("c"))
        #expect(model.handle(.character("n")).isEmpty)
        #expect(model.message?.text == "Cancelled")
        model.selection = .instance(IDs.alpha)
        model.press(.character("c"))
        #expect(
            model.handle(.character("y")) == [
                .finishSpan("sp-search", .cancelled), .finishSpan("sp-plan", .cancelled), .finishInstance(IDs.alpha, .cancelled),
            ])
        model.selection = .span("sp-llm")
        #expect(model.handle(.character("c")).isEmpty)
        #expect(model.confirmation == nil)
        #expect(model.message?.isError == true)
    }

    @Test func terminateAsksFirst() {
        var model = richModel()
        model.selection = .span("sp-search")  // a span: its run is terminated
        model.press(.character("T"))
        #expect(model.confirmation?.effect == .terminateInstance(IDs.alpha))
        #expect(model.handle(.character("n")).isEmpty)
        model.selection = .instance(IDs.gamma)
        model.press(.character("T"))
        #expect(model.handle(.character("y")) == [.terminateInstance(IDs.gamma)])
        model.selection = .instance(IDs.beta)
        #expect(model.handle(.character("T")).isEmpty)
        #expect(model.confirmation == nil)
        #expect(model.message?.isError == true)
    }

    @Test func noConfirmSkipsQuestions() {
        var model = richModel()
        model.noConfirm = true
        model.selection = .span("sp-search")
        #expect(model.handle(.character("x")) == [.finishSpan("sp-search", .failed)])
        #expect(model.handle(.character("c")) == [.finishSpan("sp-search", .cancelled)])
        #expect(model.handle(.character("T")) == [.terminateInstance(IDs.alpha)])
        model.selection = .span("sp-next")
        #expect(model.handle(.character("c")) == [.cancelUnstarted("sp-next")])
        #expect(model.confirmation == nil)
    }

    @Test func readonlyRefusesEveryMutatingKey() {
        var model = richModel()
        model.readonly = true
        for node in [NodeID.instance(IDs.alpha), .span("sp-search"), .span("sp-next")] {
            model.selection = node
            for key in "nasfxcT" {
                #expect(model.handle(.character(key)).isEmpty, "\(key) on \(node)")
                #expect(model.message?.isError == true)
                #expect(model.message?.text.contains("Read-only") == true)
                #expect(model.prompt == nil)
                #expect(model.confirmation == nil)
            }
        }
        // Looking around still works, and the hints say so.
        model.press(.character("g"), .character("j"))
        #expect(model.selection == .span("sp-plan"))
        let frame = lines(model.frame(80, 24))
        #expect(frame[0].hasSuffix("read-only"))
        #expect(frame[23].hasPrefix("↑↓ move"))
        #expect(!frame[23].contains("new run"))
    }

    @Test func helpOpensAndAnyKeyCloses() {
        var model = richModel()
        model.press(.character("?"))
        #expect(model.showHelp)
        #expect(model.frame(80, 24).plainText().contains("key closes"))
        // The closing key does nothing else.
        #expect(model.handle(.character("n")).isEmpty)
        #expect(!model.showHelp)
        model.press(.character("?"))
        #expect(model.handle(.character("q")).isEmpty)
        #expect(!model.quitting)
        model.press(.character("?"), .down)
        #expect(model.selection == .instance(IDs.alpha))
    }

    @Test func quitDrainsThenQuitsAtOnce() {
        var model = richModel()
        #expect(model.handle(.character("q")) == [.quit(drain: true)])
        #expect(model.quitting)
        #expect(lines(model.frame(80, 24))[23].hasPrefix("Quitting: delivering 4 queued operation(s)"))
        // Other keys are ignored while draining.
        #expect(model.handle(.character("n")).isEmpty)
        #expect(model.handle(.down).isEmpty)
        #expect(model.handle(.character("q")) == [.quit(drain: false)])
    }

    @Test func interruptQuitsAtOnce() {
        // Ctrl-C is an interrupt, not a quit: the program then exits with status 130.
        var model = richModel()
        #expect(model.handle(.interrupt) == [.interrupt])
        var prompting = richModel()
        prompting.press(.character("a"))
        #expect(prompting.handle(.interrupt) == [.interrupt])
        var confirming = richModel()
        confirming.press(.character("x"))
        #expect(confirming.handle(.interrupt) == [.interrupt])
        var draining = richModel()
        draining.press(.character("q"))
        #expect(draining.handle(.interrupt) == [.interrupt])
    }

    @Test func demoToggle() {
        var model = richModel()
        #expect(model.handle(.character("p")).isEmpty)
        #expect(model.message?.text.contains("--demo") == true)
        var demo = richModel(demo: .running)
        #expect(demo.handle(.character("p")) == [.toggleDemo])
    }
}
