import Foundation
import PrefactorCore
import PrefactorTUI
import PrefactorWire
import Testing

/// Frames of fixed models compared with golden text and style files (`PREFACTOR_UPDATE_GOLDEN=1` rewrites them).
@Suite("Layout goldens")
struct LayoutGoldenTests {
    /// The rich fixture with the completed LLM call selected (payload and result in the detail pane).
    func selectedLLM(health: APIHealth = .ok, demo: DemoState? = nil) -> AppModel {
        var model = richModel(health: health, demo: demo)
        model.press(.down, .down)
        #expect(model.selection == .span("sp-llm"))
        return model
    }

    @Test func everyStatusAt80x24() throws {
        let model = selectedLLM()
        try Golden.check(model.frame(80, 24), "tree-80x24")
    }

    @Test func everyStatusAt160x48() throws {
        var model = selectedLLM(health: .retrying, demo: .running)
        model.press(.down, .down)  // the running retrieval, which has an operation in flight
        #expect(model.selection == .span("sp-search"))
        try Golden.check(model.frame(160, 48), "tree-160x48")
    }

    @Test func asciiTheme() throws {
        try Golden.check(selectedLLM().frame(80, 24, theme: Theme(unicode: false)), "ascii-80x24")
    }

    @Test func monochromeTheme() throws {
        try Golden.check(selectedLLM().frame(80, 24, theme: Theme(color: false)), "mono-80x24")
    }

    @Test func collapsedRowsShowRollUps() throws {
        var model = richModel()
        model.press(.character("-"))
        try Golden.check(model.frame(80, 24), "collapsed-80x24")
    }

    @Test func instanceDetailAndDownHealth() throws {
        var model = richModel(health: .unreachable)
        model.press(.character("G"), .up)  // the terminated run
        #expect(model.selection == .span("sp-beta"))
        model.press(.up)
        #expect(model.selection == .instance(IDs.beta))
        try Golden.check(model.frame(80, 24), "terminated-80x24")
    }

    @Test func queueFocusedExpandsTheList() throws {
        var model = richModel(health: .authFailed)
        model.press(.tab, .tab)
        #expect(model.focus == .queue)
        try Golden.check(model.frame(80, 24), "queue-80x24")
    }

    @Test func helpOverlay() throws {
        var model = richModel()
        model.press(.character("?"))
        try Golden.check(model.frame(80, 24), "help-80x24")
    }

    @Test func promptOnTheLastLine() throws {
        var model = selectedLLM()
        model.press(.character("a"))
        model.type("x")
        try Golden.check(model.frame(80, 24), "prompt-80x24")
    }

    @Test func confirmationOnTheLastLine() throws {
        var model = richModel()
        model.press(.down, .down, .down, .down)
        #expect(model.selection == .span("sp-search"))
        model.press(.character("x"))
        try Golden.check(model.frame(80, 24), "confirm-80x24")
    }

    @Test func emptyModel80x24() throws {
        try Golden.check(PrefactorTUITests.emptyModel().frame(80, 24), "empty-80x24")
    }

    @Test func filterOnTheLastLine() throws {
        var model = richModel()
        model.press(.character("/"))
        model.type("tool")
        try Golden.check(model.frame(80, 24), "filter-80x24")
    }

    @Test func permanentFailuresAfterTheQueueEmptied() throws {
        var model = emptyModel(demo: .paused)
        model.apply(at: 0, [.instanceStarted(instance("inst-fail"))])
        model.apply(
            at: 1,
            [
                .spanStarted(span("sp-bad", in: "inst-fail", "tool:call", .active, payload: ["tool": "shell"], started: 1))
            ])
        model.apply(
            at: 2,
            [
                .spanFinished(
                    span(
                        "sp-bad", in: "inst-fail", "tool:call", .complete, payload: ["tool": "shell"], started: 1, finished: 2,
                        deliveryError: "HTTP 422: payload does not match the schema")),
                .operationFailed(
                    FailedOperation(
                        operation: createOperation(3, instance: "inst-fail", span: "sp-bad", schema: "tool:call", enqueued: 1),
                        reason: "HTTP 422: payload does not match the schema", status: 422)),
                .queueChanged(QueueStats(delivered: 2, failed: 1)),
            ])
        model.tick(at(3))
        model.press(.character("G"))
        #expect(model.selection == .span("sp-bad"))
        try Golden.check(model.frame(80, 24), "failures-80x24")
    }

    @Test(arguments: [(59, 24), (80, 13), (20, 3)])
    func tooSmall(width: Int, height: Int) throws {
        let buffer = richModel().frame(width, height)
        let text = lines(buffer)
        #expect(text.count == height)
        // The size needed first, then the size now, in whole phrases.
        #expect(text[0].hasPrefix("Need 60x14"))
        #expect(text.allSatisfy { TextWidth.columns(of: $0) <= width })
        #expect(text.joined(separator: " ").contains("(now \(width)x\(height)):"))
        if width >= 50 { #expect(text[0].hasPrefix("Need 60x14 (now \(width)x\(height)): terminal too small;")) }
    }

    @Test func minimumSizeFits() throws {
        let buffer = selectedLLM().frame(60, 14)
        #expect(!buffer.plainText().contains("too small"))
        for line in lines(buffer) { #expect(TextWidth.columns(of: line) <= 60) }
    }
}

/// Wide and combined characters are measured in terminal columns.
@Suite("Wide characters")
struct WideCharacterTests {
    func wideModel() -> AppModel {
        var model = emptyModel()
        model.apply(at: 0, [.instanceStarted(instance("inst-漢字", started: 0))])
        model.apply(
            at: 1,
            [
                .spanStarted(
                    span("sp-cjk", in: "inst-漢字", "tool:call", .active, payload: ["tool": "漢字漢字漢字漢字漢字漢字漢字漢字漢字漢字漢字漢字"], started: 1)
                ),
                .spanStarted(
                    span(
                        "sp-emoji", in: "inst-漢字", parent: "sp-cjk", "llm:chat", .active,
                        payload: ["model": "🎉party🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉"], started: 2)),
                .spanStarted(
                    span(
                        "sp-comb", in: "inst-漢字", "agent:step", .active,
                        payload: [
                            "step":
                                "cafe\u{301} re\u{301}sume\u{301} nai\u{308}ve e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}"
                        ], started: 3)),
                .spanStarted(
                    span(
                        "sp-🎉", in: "inst-漢字", "漢字:🎉", .active,
                        payload: ["prompt": "混合 mixed 🎉 e\u{301} text that goes on and on and on"], started: 4)),
            ])
        model.tick(at(10))
        return model
    }

    @Test(arguments: [(80, 24), (160, 48), (60, 14), (101, 30)])
    func rowsFitAndSeparatorIsAligned(width: Int, height: Int) throws {
        var model = wideModel()
        for node in model.rowIDs {
            model.selection = node
            let buffer = model.frame(width, height)
            let text = lines(buffer)
            #expect(text.count == height)
            for line in text { #expect(TextWidth.columns(of: line) <= width, "\(line)") }
            let geometry = Geometry(width: width, height: height, queueFocused: false)
            for row in geometry.bodyTop..<(geometry.bodyTop + geometry.bodyHeight) {
                #expect(buffer[row, geometry.treeWidth].text == "│", "row \(row): \(text[row])")
                // Measured as text: the separator sits at the same terminal column on every body row.
                let line = text[row]
                guard let index = line.firstIndex(of: "│") else {
                    Issue.record("no separator on row \(row)")
                    continue
                }
                #expect(TextWidth.columns(of: line[..<index]) == geometry.treeWidth, "row \(row): \(line)")
            }
        }
    }

    @Test func widePayloadGolden() throws {
        var model = wideModel()
        model.selection = .span("sp-cjk")
        try Golden.check(model.frame(80, 24), "wide-80x24")
    }

    @Test func combiningMarksStayInOneCell() {
        var model = wideModel()
        model.selection = .span("sp-comb")
        let buffer = model.frame(80, 24)
        // "é" as e + U+0301 occupies one cell whose text is the whole grapheme.
        var found = false
        for row in 0..<buffer.height {
            for column in 0..<buffer.width where buffer[row, column].text == "e\u{301}" { found = true }
        }
        #expect(found)
    }

    @Test func wideCharactersCoverTwoCells() {
        var model = wideModel()
        model.selection = .span("sp-cjk")
        let buffer = model.frame(80, 24)
        for row in 0..<buffer.height {
            for column in 0..<buffer.width where TextWidth.columns(of: buffer[row, column].text) == 2 {
                #expect(column + 1 < buffer.width)
                #expect(buffer[row, column + 1].text == "")
            }
        }
    }
}
