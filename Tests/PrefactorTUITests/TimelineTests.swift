import Foundation
import PrefactorCore
import PrefactorTUI
import PrefactorWire
import Testing

@Suite("Timeline: scale")
struct TimelineScaleTests {
    static let windowCases: [(Double, Double, Double, Int, Double, Double)] = [
        // (run seconds, zoom, offset, columns) → window start and length.
        (10.0, 1.0, 0.0, 50, 0.0, 10.0),
        (10.0, 2.0, 2.5, 50, 2.5, 5.0),
        (10.0, 2.0, 8.0, 50, 5.0, 5.0),  // past the end: the window stays inside the run
        (10.0, 4.0, -3.0, 50, 0.0, 2.5),  // before the start
        (10.0, 0.5, 0.0, 50, 0.0, 10.0),  // never zoomed out past the whole run
    ]

    @Test(arguments: windowCases)
    func windows(run: Double, zoom: Double, offset: Double, columns: Int, start: Double, length: Double) {
        let scale = TimelineScale(run: run, state: TimelineState(zoom: zoom, offset: offset), columns: columns)
        #expect(scale.start == start)
        #expect(scale.length == length)
    }

    static let barCases: [(Double, Double, Int, Int, Bool, Bool)] = [
        // (from, to) seconds in a 10 s run over 20 columns → first, end, clipped before, clipped after.
        (0.0, 10.0, 0, 20, false, false),
        (2.0, 3.0, 4, 6, false, false),
        (2.2, 2.3, 4, 5, false, false),  // shorter than a cell: one cell
        (5.0, 5.0, 10, 11, false, false),  // no duration: one cell
        (9.99, 10.0, 19, 20, false, false),
        (10.0, 10.0, 19, 20, false, false),  // on the right edge: the last cell
    ]

    @Test(arguments: barCases)
    func barsOfTheWholeRun(from: Double, to: Double, first: Int, end: Int, before: Bool, after: Bool) throws {
        let scale = TimelineScale(run: 10, state: TimelineState(), columns: 20)
        let bar = try #require(scale.bar(from: from, to: to))
        #expect(bar == TimelineScale.Bar(first: first, end: end, beforeWindow: before, afterWindow: after))
    }

    @Test func barsOfAZoomedWindowAreClipped() throws {
        // The window shows 2.5 s to 5 s of a 10 s run over 10 columns: 0.25 s a column.
        let scale = TimelineScale(run: 10, state: TimelineState(zoom: 4, offset: 2.5), columns: 10)
        #expect(scale.bar(from: 0, to: 2) == nil)
        #expect(scale.bar(from: 6, to: 9) == nil)
        #expect(scale.bar(from: 1, to: 3) == TimelineScale.Bar(first: 0, end: 2, beforeWindow: true, afterWindow: false))
        #expect(scale.bar(from: 4, to: 8) == TimelineScale.Bar(first: 6, end: 10, beforeWindow: false, afterWindow: true))
        #expect(scale.bar(from: 0, to: 10) == TimelineScale.Bar(first: 0, end: 10, beforeWindow: true, afterWindow: true))
    }

    static let tickCases: [(Double, Double, Double, Int, [String])] = [
        // (run, zoom, offset, columns) → the tick labels.
        // The run's end is the column after the last: it has no tick.
        (10.0, 1.0, 0.0, 48, ["0s", "2s", "4s", "6s", "8s"]),
        (10.0, 1.0, 0.0, 132, ["0s", "1s", "2s", "3s", "4s", "5s", "6s", "7s", "8s", "9s"]),
        (10.0, 8.0, 2.0, 48, ["2.0s", "2.2s", "2.4s", "2.6s", "2.8s", "3.0s", "3.2s"]),
        (0.8, 1.0, 0.0, 48, ["0s", "200ms", "400ms", "600ms"]),
        (3.0, 1.0, 0.0, 48, ["0s", "0.5s", "1.0s", "1.5s", "2.0s", "2.5s"]),
        (600.0, 1.0, 0.0, 48, ["0s", "2m", "4m", "6m", "8m"]),
        (5400.0, 1.0, 0.0, 60, ["0s", "15m", "30m", "45m", "1h00m", "1h15m"]),
    ]

    @Test(arguments: tickCases)
    func ticks(run: Double, zoom: Double, offset: Double, columns: Int, labels: [String]) {
        let scale = TimelineScale(run: run, state: TimelineState(zoom: zoom, offset: offset), columns: columns)
        let ticks = scale.ticks()
        #expect(ticks.map(\.label) == labels)
        // Labels never run into each other.
        for (left, right) in zip(ticks, ticks.dropFirst()) { #expect(left.column + left.label.count + 2 <= right.column) }
        #expect(ticks.allSatisfy { $0.column >= 0 && $0.column < columns })
    }

    static let zoomCases: [(Double, Double, Character, Double?, Double, Double)] = [
        // (zoom, offset, key, focus) in a 16 s run → zoom and offset after.
        (1.0, 0.0, "i", nil, 2.0, 4.0),  // around the middle
        (1.0, 0.0, "i", 2.0, 2.0, 0.0),  // around the selected span's start, kept inside the run
        (1.0, 0.0, "i", 14.0, 2.0, 8.0),
        (2.0, 4.0, "i", 11.0, 4.0, 9.0),
        (2.0, 4.0, "o", nil, 1.0, 0.0),
        (1.0, 0.0, "o", nil, 1.0, 0.0),  // never past the whole run
        (4.0, 4.0, ">", nil, 4.0, 5.0),  // a quarter of the window
        (4.0, 4.0, "<", nil, 4.0, 3.0),
        (4.0, 11.5, ">", nil, 4.0, 12.0),  // not past the end
        (4.0, 0.5, "<", nil, 4.0, 0.0),
        (8.0, 6.0, "0", nil, 1.0, 0.0),  // fits the run
        (1024.0, 3.0, "i", nil, 1024.0, 3.0),  // no further
    ]

    @Test(arguments: zoomCases)
    func zoomAndPan(zoom: Double, offset: Double, key: Character, focus: Double?, newZoom: Double, newOffset: Double) {
        var state = TimelineState(zoom: zoom, offset: offset)
        state.adjust(key, run: 16, focus: focus)
        #expect(state == TimelineState(zoom: newZoom, offset: newOffset))
    }
}

@Suite("Timeline: screen")
struct TimelineScreenTests {
    @Test func goldenAt80x24() throws {
        var model = usageModel()
        model.selection = .span("sp-llm1")
        model.press(.character("w"))
        model.message = nil
        try Golden.check(model.frame(80, 24), "timeline-80x24")
    }

    @Test func goldenAt200x60ZoomedIn() throws {
        var model = usageModel()
        model.selection = .span("sp-tool")
        model.press(.character("w"), .character("i"))
        model.message = nil
        try Golden.check(model.frame(200, 60), "timeline-200x60")
    }

    @Test func barsUseTheWholeWidth() {
        // The tree's mini bar is 10 columns at any width; the timeline's bar area grows with the screen.
        var model = usageModel()
        model.selection = .instance("inst_usage_0001")
        model.press(.character("w"))
        let rows = lines(model.frame(200, 60))
        let runRow = rows[2]
        #expect(runRow.filter { $0 == "━" }.count >= 130)
        #expect(lines(model.frame(80, 24))[2].filter { $0 == "━" }.count >= 45)
    }

    @Test func foldsAreTheTreesAndTheSelectionStays() {
        var model = usageModel()
        model.resize(80, 24)
        model.selection = .span("sp-tool")
        model.press(.character("w"))
        #expect(lines(model.frame(80, 24)).contains { $0.contains("retrieval:search") })
        // Folding in the timeline folds the tree.
        model.press(.left)
        #expect(model.collapsed.contains(.span("sp-tool")))
        #expect(!lines(model.frame(80, 24)).contains { $0.contains("retrieval:search") })
        model.press(.down)
        #expect(model.selection == .span("sp-llm2"))
        model.press(.character("w"))
        #expect(model.timeline == nil)
        #expect(model.selection == .span("sp-llm2"))
        #expect(model.collapsed.contains(.span("sp-tool")))
        #expect(!lines(model.frame(80, 24)).contains { $0.contains("retrieval:search") })
    }

    @Test func theDetailPaneStaysUnderTheWaterfall() {
        var model = usageModel()
        model.selection = .span("sp-llm2")
        model.press(.character("w"))
        let text = model.frame(80, 24).plainText()
        #expect(text.contains("langchain:llm"))
        #expect(text.contains("status   ✗ failed"))
    }

    @Test func onlyTheSelectedRunIsShown() {
        var model = usageModel()
        model.selection = .instance("inst_other_0002")
        model.press(.character("w"))
        let text = model.frame(200, 60).plainText()
        #expect(text.contains("llm:chat claude-haiku"))
        #expect(!text.contains("agent:plan"))
    }

    @Test func theAsciiThemeDrawsOnlyAscii() {
        var model = usageModel()
        model.selection = .span("sp-llm1")
        model.press(.character("w"), .character("i"), .character("i"))
        let buffer = model.frame(80, 24, theme: Theme(unicode: false))
        #expect(buffer.plainText().allSatisfy { $0.isASCII })
        // Every glyph of the waterfall has an ASCII form (an unknown one would show as "?").
        for line in lines(buffer)[1..<14] { #expect(!line.contains("?"), "\(line)") }
    }
}
