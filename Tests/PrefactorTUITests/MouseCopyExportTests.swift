import Foundation
import PrefactorCore
import PrefactorTUI
import PrefactorWire
import Testing

/// The rich fixture at 80x24: the tree's first line is screen row 1, its rows at two columns an indent level.
func mouseModel() -> AppModel {
    var model = richModel()
    model.resize(80, 24)
    return model
}

extension AppModel {
    @discardableResult
    mutating func click(row: Int, column: Int) -> [Effect] { handle(MouseEvent(.press, row: row, column: column)) }

    @discardableResult
    mutating func wheel(_ kind: MouseEvent.Kind, row: Int, column: Int) -> [Effect] {
        handle(MouseEvent(kind, row: row, column: column))
    }
}

@Suite("Reducer: mouse")
struct MouseTests {
    @Test func aClickSelectsTheRowUnderIt() {
        var model = mouseModel()
        model.focus = .detail
        model.follow = true
        #expect(model.click(row: 3, column: 20).isEmpty)
        #expect(model.selection == .span("sp-llm"), "the third tree line")
        #expect(model.focus == .tree)
        #expect(!model.follow, "a manual move turns follow off")
        model.click(row: 1, column: 30)
        #expect(model.selection == .instance(IDs.alpha))
        model.click(row: 19, column: 10)
        #expect(model.selection == .instance(IDs.alpha), "below the last row: nothing")
    }

    @Test func aClickOnTheFoldMarkerFoldsAndUnfolds() {
        var model = mouseModel()
        #expect(model.rowIDs.count == 11)
        model.click(row: 2, column: 2)  // sp-plan, depth 1: its marker is at column 2
        #expect(model.selection == .span("sp-plan"))
        #expect(model.collapsed.contains(.span("sp-plan")))
        #expect(model.rowIDs.count == 6, "its four children and their child are hidden")
        model.click(row: 2, column: 2)
        #expect(!model.collapsed.contains(.span("sp-plan")))
        #expect(model.rowIDs.count == 11)
        model.click(row: 2, column: 8)
        #expect(!model.collapsed.contains(.span("sp-plan")), "a click on the name only selects")
        model.click(row: 3, column: 4)  // sp-llm has no children: its marker column selects only
        #expect(model.selection == .span("sp-llm"))
        #expect(model.collapsed.isEmpty)
    }

    @Test func theWheelScrollsTheTreeKeepingTheSelectionOnScreen() {
        var model = longModel()
        let visible = model.treeRowsVisible
        #expect(model.selectedIndex == 0)
        model.wheel(.wheelDown, row: 5, column: 10)
        #expect(model.scroll == AppModel.wheelStep)
        #expect(model.selectedIndex == AppModel.wheelStep, "the selection stays on the first visible row")
        model.press(.down)
        model.wheel(.wheelDown, row: 5, column: 10)
        #expect(model.scroll == 2 * AppModel.wheelStep)
        #expect(model.selectedIndex == 2 * AppModel.wheelStep)
        for _ in 0..<40 { model.wheel(.wheelDown, row: 5, column: 10) }
        #expect(model.scroll == 61 - visible, "clamped at the bottom")
        model.wheel(.wheelUp, row: 5, column: 10)
        #expect(model.scroll == 61 - visible - AppModel.wheelStep)
        #expect(model.selectedIndex! < model.scroll + visible, "moved back onto the screen")
    }

    @Test func theWheelScrollsTheDetailPaneAndTheQueueUnderThePointer() {
        var model = mouseModel()
        model.wheel(.wheelDown, row: 5, column: 60)
        #expect(model.detailScroll == AppModel.wheelStep)
        #expect(model.selection == .instance(IDs.alpha), "the tree did not move")
        model.wheel(.wheelUp, row: 5, column: 60)
        model.wheel(.wheelUp, row: 5, column: 60)
        #expect(model.detailScroll == 0)
        let first = model.queueItems[0].id
        let second = model.queueItems[1].id
        model.wheel(.wheelDown, row: 22, column: 10)
        #expect(model.queueSelection == second)
        model.wheel(.wheelUp, row: 22, column: 10)
        #expect(model.queueSelection == first)
    }

    @Test func aClickFocusesThePaneUnderItAndSelectsAnOperationInTheQueue() {
        var model = mouseModel()
        model.click(row: 5, column: 60)
        #expect(model.focus == .detail)
        model.click(row: 21, column: 5)
        #expect(model.focus == .queue)
        let geometry = Geometry(for: model)
        #expect(geometry.queueHeight > 2, "the focused queue list grows")
        model.click(row: geometry.queueTop + 2, column: 5)
        #expect(model.queueSelection == model.queueItems[1].id)
        model.click(row: 0, column: 5)
        #expect(model.focus == .queue, "the header is no pane")
    }

    @Test func theMouseDoesNothingWhileAQuestionOrAPromptIsOpenAndAClickClosesTheHelp() {
        var model = mouseModel()
        model.press(.down, .down, .down, .down)
        #expect(model.selection == .span("sp-search"))
        model.press(.character("x"))
        #expect(model.confirmation != nil)
        model.click(row: 1, column: 5)
        #expect(model.selection == .span("sp-search"))
        #expect(model.confirmation != nil, "the question stays")
        model.press(.character("n"))
        model.press(.character("a"))
        #expect(model.prompt != nil)
        model.wheel(.wheelDown, row: 5, column: 60)
        #expect(model.detailScroll == 0)
        model.press(.escape, .character("?"))
        #expect(model.showHelp)
        model.click(row: 3, column: 5)
        #expect(!model.showHelp)
        #expect(model.selection == .span("sp-search"), "the click only closed the help")
    }
}

@Suite("Reducer: copy")
struct CopyTests {
    @Test func inTheTreeYCopiesTheAPIIdOrTheLocalIdBeforeDelivery() {
        var model = mouseModel()
        model.press(.down, .down)
        #expect(model.press(.character("y")) == [.copyToClipboard("api-llm")])
        #expect(model.message?.text == "Copied the API id of llm:chat: api-llm")
        model.press(.down, .down)
        #expect(model.selection == .span("sp-search"))
        #expect(model.press(.character("y")) == [.copyToClipboard("sp-search")])
        #expect(model.message?.text == "Copied the local id of retrieval:search (not delivered yet): sp-search")
        model.press(.character("g"))
        #expect(model.press(.character("y")) == [.copyToClipboard(IDs.alpha)])
        #expect(model.message?.text.hasPrefix("Copied the run id") == true)
    }

    @Test func inTheDetailPaneYCopiesThePayload() {
        var model = mouseModel()
        model.press(.down, .down, .tab)
        #expect(model.focus == .detail)
        let payload: [String: JSONValue] = ["model": "gpt-4o-mini", "prompt": "Summarise the findings", "temperature": 0.2]
        #expect(model.press(.character("y")) == [.copyToClipboard(JSONValue.object(payload).prettyPrinted)])
        #expect(model.message?.text == "Copied the payload of llm:chat")
    }

    @Test func inTheQueueYCopiesTheIdempotencyKey() {
        var model = mouseModel()
        model.press(.tab, .tab)
        #expect(model.focus == .queue)
        let item = model.queueItems[0]
        let key = item.operation!.idempotencyKey
        #expect(model.press(.character("y")) == [.copyToClipboard(key)])
        #expect(model.message?.text == "Copied the idempotency key of #\(item.id) \(item.kind): \(key)")
        model.press(.down, .enter, .tab)
        #expect(model.focus == .tree)
        #expect(model.operationDetail == model.queueItems[1].id)
        #expect(
            model.press(.character("y")) == [.copyToClipboard(model.queueItems[1].operation!.idempotencyKey)],
            "an operation shown in full")
    }

    @Test func yStillAnswersAQuestionAndCopyWorksReadOnly() {
        var model = mouseModel()
        model.press(.down, .down, .down, .down)
        model.press(.character("x"))
        #expect(model.press(.character("y")) == [.finishSpan("sp-search", .failed)], "y answers the question, copies nothing")
        var readonly = longModel(readonly: true)
        #expect(readonly.press(.character("y")) == [.copyToClipboard("inst-long")])
    }

    @Test func theSequenceIsOSC52WithBase64() {
        #expect(OSC52.sequence(for: "api-llm") == "\u{1B}]52;c;YXBpLWxsbQ==\u{07}")
        #expect(OSC52.sequence(for: "é") == "\u{1B}]52;c;w6k=\u{07}")
        let long = String(repeating: "a", count: OSC52.maximumBytes - 1) + "é"
        let body = OSC52.sequence(for: long).dropFirst(7).dropLast()
        #expect(Data(base64Encoded: String(body))?.count == OSC52.maximumBytes - 1, "cut before the split character")
    }
}

@Suite("Reducer: export")
struct ExportKeyTests {
    @Test func eExportsTheRunOfTheSelection() {
        var model = mouseModel()
        model.press(.down, .down)
        #expect(model.press(.character("E")) == [.exportRun(IDs.alpha)])
        #expect(model.message?.text == "Exporting run \(IDs.alpha)…")
        model.press(.character("G"))
        #expect(model.press(.character("E")) == [.exportRun(IDs.gamma)])
        var empty = emptyModel()
        #expect(empty.press(.character("E")).isEmpty)
        #expect(empty.message == Message(text: "Select a run to export", isError: true))
    }

    @Test func theFileNameSaysTheRunAndTheTime() {
        #expect(RunExport.fileName(instanceID: "inst/1", at: t0) == "prefactor-run-inst_1-20260101T000000Z.json")
    }
}

@Suite("Reducer: remapped keys")
struct RemappedKeyTests {
    func remapped(_ overrides: [KeyAction: [Key]]) throws -> AppModel {
        var model = mouseModel()
        model.keyMap = try KeyMap(overriding: overrides)
        return model
    }

    @Test func aRemappedKeyDoesTheActionAndTheOldKeyNoLonger() throws {
        var model = try remapped([.newRun: [.character("N")], .moveDown: [.control("n")]])
        #expect(model.press(.character("N")) == [.newInstance])
        #expect(model.press(.character("n")).isEmpty)
        #expect(model.message?.text == "n is not bound to anything (config file `keys`)")
        model.press(.control("n"))
        #expect(model.selection == .span("sp-plan"))
        model.press(.character("j"))
        #expect(model.selection == .span("sp-plan"), "j was moved to Ctrl-N")
        model.press(.down)
        #expect(model.selection == .span("sp-plan"), "so was Down")
        model.press(.character("k"))
        #expect(model.selection == .instance(IDs.alpha), "other keys keep their defaults")
    }

    @Test func aDisabledActionDoesNothing() throws {
        var model = try remapped([.fail: [], .quit: [.character("Q")]])
        model.press(.down, .down, .down, .down)
        #expect(model.press(.character("x")).isEmpty)
        #expect(model.confirmation == nil)
        #expect(model.press(.character("q")).isEmpty)
        #expect(!model.quitting)
        #expect(model.press(.character("Q")) == [.quit(drain: true)])
        #expect(model.press(.character("Q")) == [.quit(drain: false)], "the second quit uses the remapped key too")
    }

    @Test func textTypedIntoTheFilterOrAPromptIsNeverRemapped() throws {
        var model = try remapped([.moveDown: [.character("z")], .filter: [.character("\\")]])
        model.press(.character("\\"))
        #expect(model.filterEditing)
        model.type("zj")
        #expect(model.filter == "zj")
        model.press(.enter, .escape)
        model.press(.character("a"))
        model.type("z")
        #expect(model.prompt?.text == "z")
    }

    @Test func keysOfUnlistedFeaturesPassThrough() throws {
        let map = try KeyMap(overriding: [.copy: [.character("Y")]])
        #expect(map.translate(.character("Y")) == .character("y"))
        #expect(map.translate(.character("y")) == nil)
        #expect(map.translate(.character("Z")) == .character("Z"), "no action claims Z")
        #expect(map.translate(.interrupt) == .interrupt)
    }

    @Test func aKeyOnTwoActionsIsRefused() {
        #expect(throws: KeyConflict.self) { try KeyMap(overriding: [.quit: [.character("j")]]) }
        #expect(throws: Never.self) { try KeyMap(overriding: [.quit: [.character("j")], .moveDown: [.down]]) }
    }

    @Test func theHelpOverlayScrollsWithRemappedKeys() throws {
        var model = try remapped([.moveDown: [.character("z")]])
        model.resize(80, 14)
        model.press(.character("?"))
        model.press(.character("z"))
        #expect(model.showHelp)
        #expect(model.helpScroll == 1)
    }
}

@Suite("Key labels")
struct KeyLabelTests {
    @Test(arguments: [
        ("↑ ↓  k j", "↑ j C-n ↓  k"),
        ("x", "—"),
        ("n", "N"),
        ("↑↓", "↑ j C-n ↓"),
        ("q", "q"),
        ("PgUp PgDn  g G", "PgUp PgDn  g G"),
        ("← →  h l  Space", "← →  h l  Space"),
    ])
    func theHelpAndTheHintsShowTheBoundKeys(label: String, expected: String) throws {
        let map = try KeyMap(overriding: [
            .moveDown: [.character("j"), .control("n"), .down], .fail: [], .newRun: [.character("N")],
        ])
        #expect(map.label(label) == expected)
        #expect(KeyMap.default.label(label) == label, "the defaults keep the label")
    }

    @Test func theHelpOverlayAndTheHintLineShowARemappedKey() throws {
        var model = mouseModel()
        model.keyMap = try KeyMap(overriding: [.newRun: [.character("N")], .fail: []])
        let hints = lines(model.frame(80, 24))[23]
        #expect(hints.hasPrefix("N new run "), "\(hints)")
        #expect(hints.contains("— fail"))
        model.press(.character("?"))
        let help = lines(model.frame(80, 24)).joined(separator: "\n")
        #expect(help.contains("N                 new agent run"), "\(help)")
    }
}

@Suite("Mouse in the timeline, and the config's prices")
struct TimelineMouseAndPricesTests {
    @Test func aClickInTheTimelineSelectsAndFoldsAndTheWheelMovesTheSelection() {
        var model = mouseModel()
        model.press(.character("w"))
        #expect(model.timeline != nil)
        let layout = TimelineGeometry(bodyTop: 1, bodyHeight: Geometry(for: model).bodyHeight, width: 80)
        // The selected run's rows from the first bar row: the run, sp-plan, sp-llm...
        model.click(row: layout.rowsTop + 2, column: 30)
        #expect(model.selection == .span("sp-llm"))
        model.click(row: layout.rowsTop + 1, column: 1)  // sp-plan's marker: one column a level in the timeline
        #expect(model.selection == .span("sp-plan"))
        #expect(model.collapsed.contains(.span("sp-plan")))
        model.click(row: layout.rowsTop + 1, column: 1)
        #expect(!model.collapsed.contains(.span("sp-plan")))
        model.wheel(.wheelDown, row: layout.rowsTop, column: 40)
        #expect(model.selection == .span("sp-search"), "three rows down")
        model.click(row: layout.detailTop + 1, column: 40)
        #expect(model.focus == .detail, "the detail pane is below the waterfall")
    }

    @Test func theConfigPricesPriceTheModelsUsage() throws {
        var model = emptyModel()
        model.apply(TUIOptions(apiURL: "http://x"))
        #expect(model.pricing == nil, "no prices: no cost")
        let table = PriceTable(models: ["gpt-4o-mini": TokenPrice(inputPerMillion: 0.15, outputPerMillion: 0.6)])
        model.apply(TUIOptions(apiURL: "http://x", keyMap: try KeyMap(overriding: [.copy: [.character("Y")]]), prices: table))
        #expect(model.pricing?.price(forModel: "gpt-4o-mini") == TokenPrice(inputPerMillion: 0.15, outputPerMillion: 0.6))
        #expect(model.keyMap.keys(for: .copy) == [.character("Y")])
    }
}
