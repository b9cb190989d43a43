import Foundation
import PrefactorCore
import PrefactorTUI
import PrefactorWire
import Testing

@Suite("Reducer: timeline keys")
struct TimelineKeyTests {
    @Test func wTogglesTheTimelineAndKeepsTheSelection() {
        var model = usageModel()
        model.selection = .span("sp-llm1")
        #expect(model.press(.character("w")).isEmpty)
        #expect(model.timeline == TimelineState())
        #expect(model.selection == .span("sp-llm1"))
        model.press(.character("w"))
        #expect(model.timeline == nil)
        #expect(model.selection == .span("sp-llm1"))
    }

    @Test func zoomAndPanKeysMoveTheWindow() {
        var model = usageModel()
        model.selection = .span("sp-llm2")  // starts 6.5 s into a run of 12 s
        model.press(.character("w"), .character("i"))
        #expect(model.timeline == TimelineState(zoom: 2, offset: 3.5))
        model.press(.character(">"))
        #expect(model.timeline == TimelineState(zoom: 2, offset: 5))
        model.press(.character("<"), .character("<"))
        #expect(model.timeline == TimelineState(zoom: 2, offset: 2))
        model.press(.character("o"))
        #expect(model.timeline == TimelineState(zoom: 1, offset: 0))
        model.press(.character("i"), .character("i"), .character("0"))
        #expect(model.timeline == TimelineState())
    }

    @Test func zoomKeysDoNothingWithoutTheTimeline() {
        var model = usageModel()
        model.selection = .span("sp-llm2")
        model.press(.character("i"), .character("o"), .character("<"), .character(">"), .character("0"))
        #expect(model.timeline == nil)
        #expect(model.selection == .span("sp-llm2"))
    }
}

@Suite("Reducer: sort, status filter, matches")
struct SortAndFilterKeyTests {
    func spanRows(_ model: AppModel, under parent: String) -> [NodeID] {
        model.rowIDs.filter { model.tree.parent(of: $0) == .span(parent) }
    }

    @Test func sCyclesTheSortOfSiblings() {
        var model = usageModel()
        #expect(
            spanRows(model, under: "sp-plan") == [
                .span("sp-llm1"), .span("sp-tool"), .span("sp-llm2"), .span("sp-llm3"), .span("sp-step"),
            ])
        model.press(.character("S"))
        #expect(model.sort == .duration)
        // Longest first: llm1 2.5 s, llm3 3 s running, tool 2 s, llm2 1.5 s, the prepared step none.
        #expect(
            spanRows(model, under: "sp-plan") == [
                .span("sp-llm3"), .span("sp-llm1"), .span("sp-tool"), .span("sp-llm2"), .span("sp-step"),
            ])
        #expect(model.frame(120, 30).plainText().contains("by duration"))
        model.press(.character("S"))
        #expect(model.sort == .status)
        // Problems first, then running, prepared, complete.
        #expect(
            spanRows(model, under: "sp-plan") == [
                .span("sp-llm2"), .span("sp-llm3"), .span("sp-step"), .span("sp-llm1"), .span("sp-tool"),
            ])
        // Runs too: the running one before the finished one.
        #expect(model.rowIDs.filter(\.isRun) == [.instance("inst_usage_0001"), .instance("inst_other_0002")])
        model.press(.character("S"))
        #expect(model.sort == .start)
        #expect(spanRows(model, under: "sp-plan").first == .span("sp-llm1"))
    }

    @Test func sortedRowsFollowNewSpans() {
        var model = usageModel()
        model.press(.character("S"))
        model.apply(
            at: 12,
            [
                .spanFinished(
                    span("sp-long", in: "inst_usage_0001", parent: "sp-plan", "tool:call", .complete, started: 1, finished: 11))
            ])
        #expect(spanRows(model, under: "sp-plan").first == .span("sp-long"))
    }

    @Test func vCyclesTheStatusFilter() {
        var model = usageModel()
        model.press(.character("v"))
        #expect(model.statusFilter == .running)
        // Running spans, and what they are under.
        #expect(model.rowIDs == [.instance("inst_usage_0001"), .span("sp-plan"), .span("sp-llm3")])
        model.press(.character("v"))
        #expect(model.statusFilter == .failed)
        #expect(model.rowIDs == [.instance("inst_usage_0001"), .span("sp-plan"), .span("sp-llm2")])
        model.press(.character("v"))
        #expect(model.statusFilter == .finished)
        #expect(
            model.rowIDs == [
                .instance("inst_usage_0001"), .span("sp-plan"), .span("sp-llm1"), .span("sp-tool"), .span("sp-search"),
                .span("sp-llm2"), .instance("inst_other_0002"), .span("sp-haiku"),
            ])
        #expect(model.frame(120, 30).plainText().contains("finished only"))
        model.press(.character("v"))
        #expect(model.statusFilter == .all)
        #expect(model.rowIDs.count == 10)
    }

    @Test func escapeClearsTheStatusFilter() {
        var model = usageModel()
        model.press(.character("v"), .escape)
        #expect(model.statusFilter == .all)
    }

    @Test func bracketsGoToTheNextAndPreviousMatch() {
        var model = usageModel()
        model.press(.character("/"))
        model.type("llm")
        model.press(.enter)
        model.selection = .instance("inst_usage_0001")
        model.press(.character("]"))
        #expect(model.selection == .span("sp-llm1"))
        #expect(model.message?.text == "Match 1/4")
        model.press(.character("]"))
        #expect(model.selection == .span("sp-llm2"))
        model.press(.character("]"), .character("]"))
        #expect(model.selection == .span("sp-haiku"))
        model.press(.character("]"))
        #expect(model.selection == .span("sp-llm1"), "wraps around")
        model.press(.character("["))
        #expect(model.selection == .span("sp-haiku"), "wraps back")
        model.press(.character("["))
        #expect(model.selection == .span("sp-llm3"))
        #expect(model.message?.text == "Match 3/4")
    }

    @Test func matchesFollowTheStatusFilterToo() {
        var model = usageModel()
        model.press(.character("v"), .character("v"))  // failed only
        model.press(.character("]"))
        #expect(model.selection == .span("sp-llm2"))
    }

    @Test func bracketsWithoutAFilterSaySo() {
        var model = usageModel()
        let before = model.selection
        model.press(.character("]"))
        #expect(model.selection == before)
        #expect(model.message?.isError == true)
    }
}

@Suite("Reducer: freeze")
struct FreezeKeyTests {
    let late = span(
        "sp-late", in: "inst_usage_0001", parent: "sp-plan", "tool:call", .active, payload: ["tool": "sql"], started: 12)

    @Test func zHoldsUpdatesBackAndCountsThem() {
        var model = usageModel()
        model.press(.character("Z"))
        #expect(model.frozen != nil)
        let frozenAt = model.now
        model.apply(at: 13, [.spanStarted(late), .queueChanged(QueueStats(pending: 1))])
        model.apply(
            .changes(RemoteChanges(instances: [], spans: [], at: at(13))))
        #expect(model.tree.spans["sp-late"] == nil)
        #expect(model.queue.pending == 0)
        #expect(model.frozen?.waiting == 3)
        // The moment stays: durations do not tick.
        model.tick(at(20))
        #expect(model.now == frozenAt)
        let frame = model.frame(120, 30).plainText()
        #expect(frame.contains("frozen, 3 waiting"))
        #expect(!frame.contains("sql"))
        // At 80 columns the header has no room left: the hint line says it.
        model.message = nil
        #expect(lines(model.frame(80, 24))[23].hasPrefix("FROZEN 3 waiting  "))
    }

    @Test func zAgainAppliesWhatWaited() {
        var model = usageModel()
        model.press(.character("Z"))
        model.apply(at: 13, [.spanStarted(late)])
        model.tick(at(14))
        #expect(model.press(.character("Z")).isEmpty)
        #expect(model.frozen == nil)
        #expect(model.tree.spans["sp-late"] != nil)
        #expect(model.rowIDs.contains(.span("sp-late")))
        #expect(model.now == at(14))
        #expect(model.message?.text == "Applied 1 update(s) held while frozen")
    }

    @Test func aSnapshotWhileFrozenReplacesTheEventsBeforeIt() {
        var model = usageModel()
        model.press(.character("Z"))
        model.apply(at: 13, [.spanStarted(late)])
        model.load(ClientSnapshot(instances: [], spans: [], operations: [], queue: QueueStats(), health: .ok))
        #expect(model.frozen?.updates.count == 1)
        #expect(model.frozen?.waiting == 2)
    }

    @Test func tooManyHeldEventsAskForASnapshot() {
        var model = usageModel()
        model.press(.character("Z"))
        for _ in 0...FrozenUpdates.maximumHeld { model.apply(.queueChanged(QueueStats(pending: 1))) }
        #expect(model.frozen?.needsSnapshot == true)
        #expect(model.frozen?.updates.isEmpty == true)
        #expect(model.press(.character("Z")) == [.resync])
    }
}

extension NodeID {
    fileprivate var isRun: Bool {
        if case .instance = self { return true }
        return false
    }
}
