import Foundation

/// Something a key does, named as the config file's `keys` section names it.
///
/// Each action has default keys (tui.md's contract); the first of them is the key the reducer understands, so a
/// remapped key reaches the reducer as that one. A key no action claims passes through unchanged.
public enum KeyAction: String, Sendable, Hashable, CaseIterable {
    case moveUp = "move-up"
    case moveDown = "move-down"
    case pageUp = "page-up"
    case pageDown = "page-down"
    case top
    case bottom
    case collapse
    case expand
    case toggle
    case open
    case collapseAll = "collapse-all"
    case expandAll = "expand-all"
    case nextPane = "next-pane"
    case previousPane = "previous-pane"
    case filter
    case back
    case errorsOnly = "errors-only"
    case follow
    case newRun = "new-run"
    case addSpan = "add-span"
    case start
    case finish
    case fail
    case cancel
    case terminate
    case pauseDemo = "pause-demo"
    case pollInterval = "poll-interval"
    case queueFiles = "queue-files"
    case toSpan = "to-span"
    case retryNow = "retry-now"
    case discard
    case takeOver = "take-over"
    case copy
    case export
    case timeline
    case zoomIn = "zoom-in"
    case zoomOut = "zoom-out"
    case panLeft = "pan-left"
    case panRight = "pan-right"
    case fit
    case sort
    case statusFilter = "status-filter"
    case nextMatch = "next-match"
    case previousMatch = "previous-match"
    case freeze
    case help
    case quit

    /// The keys it has without a config file; the first is the one the reducer understands.
    public var defaultKeys: [Key] {
        switch self {
        case .moveUp: [.up, .character("k")]
        case .moveDown: [.down, .character("j")]
        case .pageUp: [.pageUp]
        case .pageDown: [.pageDown]
        case .top: [.home, .character("g")]
        case .bottom: [.end, .character("G")]
        case .collapse: [.left, .character("h")]
        case .expand: [.right, .character("l")]
        case .toggle: [.character(" ")]
        case .open: [.enter]
        case .collapseAll: [.character("-")]
        case .expandAll: [.character("=")]
        case .nextPane: [.tab]
        case .previousPane: [.backTab]
        case .filter: [.character("/")]
        case .back: [.escape]
        case .errorsOnly: [.character("e")]
        case .follow: [.character("F")]
        case .newRun: [.character("n")]
        case .addSpan: [.character("a")]
        case .start: [.character("s")]
        case .finish: [.character("f")]
        case .fail: [.character("x")]
        case .cancel: [.character("c")]
        case .terminate: [.character("T")]
        case .pauseDemo: [.character("p")]
        case .pollInterval: [.character("W")]
        case .queueFiles: [.character("O")]
        case .toSpan: [.character("t")]
        case .retryNow: [.character("r")]
        case .discard: [.character("d")]
        case .takeOver: [.character("D")]
        case .copy: [.character("y")]
        case .export: [.character("E")]
        case .timeline: [.character("w")]
        case .zoomIn: [.character("i")]
        case .zoomOut: [.character("o")]
        case .panLeft: [.character("<")]
        case .panRight: [.character(">")]
        case .fit: [.character("0")]
        case .sort: [.character("S")]
        case .statusFilter: [.character("v")]
        case .nextMatch: [.character("]")]
        case .previousMatch: [.character("[")]
        case .freeze: [.character("Z")]
        case .help: [.character("?")]
        case .quit: [.character("q")]
        }
    }

    /// What it does, for the documentation and `prefactor config keys`.
    public var summary: String {
        switch self {
        case .moveUp: "move up (scrolls the detail pane, selects in the queue)"
        case .moveDown: "move down"
        case .pageUp: "a page up"
        case .pageDown: "a page down"
        case .top: "to the top"
        case .bottom: "to the bottom"
        case .collapse: "collapse the selected node, or go to its parent"
        case .expand: "expand the selected node"
        case .toggle: "fold or unfold the selected node"
        case .open: "fold or unfold in the tree; show an operation in full in the queue"
        case .collapseAll: "collapse everything"
        case .expandAll: "expand everything"
        case .nextPane: "focus the next pane: tree, detail, queue"
        case .previousPane: "focus the previous pane"
        case .filter: "filter by text"
        case .back: "clear the filter or errors-only view, close what is open"
        case .errorsOnly: "errors only"
        case .follow: "follow the newest activity"
        case .newRun: "new agent run"
        case .addSpan: "add a span under the selection"
        case .start: "start the selected prepared span"
        case .finish: "finish the selection as complete"
        case .fail: "fail the selection (asks y/n)"
        case .cancel: "cancel the selection (asks y/n)"
        case .terminate: "terminate the selected run on the server (asks y/n)"
        case .pauseDemo: "pause or resume the demo agent"
        case .pollInterval: "when watching: the next poll interval"
        case .queueFiles: "list the queue files to open one"
        case .toSpan: "in the queue: go to the operation's span"
        case .retryNow: "in the queue: retry a backing-off operation now"
        case .discard: "in the queue: discard an operation that failed for good (asks y/n)"
        case .takeOver: "in the queue: take over a dead process's queue file (asks y/n)"
        case .copy: "copy the selection's id, payload or idempotency key (OSC 52)"
        case .export: "export the selected run with all its spans as JSON"
        case .timeline: "the timeline of the selected run, or back to the tree"
        case .zoomIn: "in the timeline: zoom in"
        case .zoomOut: "in the timeline: zoom out"
        case .panLeft: "in the timeline: pan to earlier"
        case .panRight: "in the timeline: pan to later"
        case .fit: "in the timeline: the whole run"
        case .sort: "sort by start time, duration or status"
        case .statusFilter: "only running, failed or finished"
        case .nextMatch: "the next row that matches the filters"
        case .previousMatch: "the previous row that matches the filters"
        case .freeze: "freeze updates, or apply those held"
        case .help: "the help overlay"
        case .quit: "quit (drains the queue; again quits at once)"
        }
    }

    /// The key the reducer understands for it.
    public var canonicalKey: Key { defaultKeys[0] }
}

/// How keys are written in the config file: one printable character (`j`, `G`, `"?"`), `<name>` for a special key
/// (`<up>`, `<enter>`, `<space>`, `<pgdown>`...), `<c-x>` for Ctrl and a letter, and `<disabled>` for no key.
public enum KeyName {
    /// The written name of each special key.
    public static let special: [(String, Key)] = [
        ("up", .up), ("down", .down), ("left", .left), ("right", .right), ("pgup", .pageUp), ("pgdown", .pageDown),
        ("home", .home), ("end", .end), ("enter", .enter), ("esc", .escape), ("tab", .tab), ("backtab", .backTab),
        ("backspace", .backspace), ("delete", .delete), ("space", .character(" ")),
    ]

    /// The word that unbinds an action.
    public static let disabled = "<disabled>"

    /// Ctrl-letters that cannot be bound: the terminal sends them as other keys (Tab, Enter, Backspace), or they
    /// quit (Ctrl-C) and redraw (Ctrl-L) wherever the UI is.
    static let reservedControls: Set<Character> = ["c", "h", "i", "j", "l", "m"]

    /// Reads a key; `nil` for `<disabled>`.
    ///
    /// - Throws: A description of what is wrong, when it is no key.
    public static func parse(_ text: String) throws(KeyNameError) -> Key? {
        if text == disabled { return nil }
        if text.count == 1, let character = text.first {
            guard !character.isNewline, character.unicodeScalars.allSatisfy({ $0.value >= 32 && $0.value != 127 }) else {
                throw KeyNameError(text: text, reason: "is not a printable character")
            }
            return .character(character)
        }
        guard text.hasPrefix("<"), text.hasSuffix(">"), text.count > 2 else {
            throw KeyNameError(text: text, reason: "is not a key: write one character, or <name> such as <enter> or <c-b>")
        }
        let name = text.dropFirst().dropLast().lowercased()
        if let key = special.first(where: { $0.0 == name })?.1 { return key }
        if name.hasPrefix("c-"), name.count == 3, let letter = name.last, letter.isASCII, letter.isLetter {
            guard !reservedControls.contains(letter) else {
                throw KeyNameError(
                    text: text, reason: "cannot be bound (the terminal sends it as another key, or it is reserved)")
            }
            return .control(letter)
        }
        let names = special.map { "<\($0.0)>" }.joined(separator: " ")
        throw KeyNameError(text: text, reason: "is not a key name; known names: \(names), <c-a>...<c-z>, \(disabled)")
    }

    /// How a key is written in the config file and shown in messages.
    public static func describe(_ key: Key) -> String {
        if let name = special.first(where: { $0.1 == key })?.0 { return "<\(name)>" }
        switch key {
        case .character(let character): return String(character)
        case .control(let letter): return "<c-\(letter)>"
        case .interrupt: return "<c-c>"
        case .redraw: return "<c-l>"
        default: return "\(key)"
        }
    }
}

/// A key name the config file cannot use.
public struct KeyNameError: Error, Hashable, Sendable {
    /// The text as written.
    public var text: String
    /// What is wrong with it.
    public var reason: String
}

/// Which key does what: the defaults, with the config file's `keys` section applied.
///
/// ``translate(_:)`` turns a key pressed into the key the reducer understands for its action. Only the normal mode
/// (no prompt, filter line, question or picker open) is translated: text typed into a prompt is never remapped.
public struct KeyMap: Sendable, Hashable {
    /// The keys of each action (an empty list: disabled).
    public private(set) var bindings: [KeyAction: [Key]]
    private var actionOfKey: [Key: KeyAction]

    /// Every action's default keys.
    public static let `default` = KeyMap()

    /// The action that claims each default key.
    private static let defaultActions: [Key: KeyAction] = {
        var result: [Key: KeyAction] = [:]
        for action in KeyAction.allCases {
            for key in action.defaultKeys { result[key] = action }
        }
        return result
    }()

    private init() {
        bindings = Dictionary(uniqueKeysWithValues: KeyAction.allCases.map { ($0, $0.defaultKeys) })
        actionOfKey = Self.defaultActions
    }

    /// The defaults with some actions bound to other keys (an empty list disables the action).
    ///
    /// - Throws: ``KeyConflict`` when a key would do two things: two actions given the same key, or a key given to
    ///   an action while another action keeps it as a default.
    public init(overriding overrides: [KeyAction: [Key]]) throws(KeyConflict) {
        self.init()
        for (action, keys) in overrides { bindings[action] = keys }
        var owners: [Key: KeyAction] = [:]
        for action in KeyAction.allCases {
            for key in bindings[action] ?? [] {
                if let other = owners[key], other != action {
                    let (first, second) = [other, action].sorted { $0.rawValue < $1.rawValue }.pairOfTwo
                    throw KeyConflict(key: key, actions: (first, second), overridden: Set(overrides.keys))
                }
                owners[key] = action
            }
        }
        actionOfKey = owners
    }

    /// The keys bound to an action.
    public func keys(for action: KeyAction) -> [Key] { bindings[action] ?? [] }

    /// The action a key does, if any.
    public func action(for key: Key) -> KeyAction? { actionOfKey[key] }

    /// The key the reducer is to see for a key pressed in normal mode: its action's default key; the key itself
    /// when no action claims it (keys of features that are not remappable); `nil` when it is a default key that
    /// the config moved elsewhere or disabled.
    public func translate(_ key: Key) -> Key? {
        if let action = actionOfKey[key] { return action.canonicalKey }
        if Self.defaultActions[key] != nil { return nil }
        return key
    }

    /// The actions whose keys differ from the defaults.
    public var changedActions: [KeyAction] {
        KeyAction.allCases.filter { bindings[$0] != $0.defaultKeys }
    }
}

/// Two actions on one key.
public struct KeyConflict: Error, Hashable, Sendable {
    /// The key.
    public var key: Key
    /// The two actions, sorted by name.
    public var first: KeyAction
    /// The second action.
    public var second: KeyAction
    /// Whether each action was set in the config (otherwise it kept its default keys).
    public var firstOverridden: Bool
    /// Whether the second action was set in the config.
    public var secondOverridden: Bool

    init(key: Key, actions: (KeyAction, KeyAction), overridden: Set<KeyAction>) {
        self.key = key
        first = actions.0
        second = actions.1
        firstOverridden = overridden.contains(actions.0)
        secondOverridden = overridden.contains(actions.1)
    }

    /// What to tell the operator.
    public var message: String {
        let key = KeyName.describe(key)
        func origin(_ action: KeyAction, _ overridden: Bool) -> String {
            overridden ? action.rawValue : "\(action.rawValue) (its default; set keys.\(action.rawValue) to free it)"
        }
        return "\(key) is bound to both \(origin(first, firstOverridden)) and \(origin(second, secondOverridden))"
    }
}

extension Array {
    fileprivate var pairOfTwo: (Element, Element) { (self[0], self[1]) }
}

extension AppModel {
    /// A default key the config file moved to another key or disabled: it does nothing, and says so.
    mutating func unboundKey(_ key: Key) -> [Effect] {
        message = Message(text: "\(KeyName.describe(key)) is not bound to anything (config file `keys`)", isError: false)
        return []
    }
}

extension KeyMap {
    /// How the help overlay and the hint line write a key: arrows and short names, as the default labels do.
    public static func display(_ key: Key) -> String {
        switch key {
        case .up: "↑"
        case .down: "↓"
        case .left: "←"
        case .right: "→"
        case .pageUp: "PgUp"
        case .pageDown: "PgDn"
        case .home: "Home"
        case .end: "End"
        case .enter: "Enter"
        case .escape: "Esc"
        case .tab: "Tab"
        case .backTab: "S-Tab"
        case .backspace: "Bksp"
        case .delete: "Del"
        case .character(" "): "Space"
        case .character(let character): String(character)
        case .control(let letter): "C-" + String(letter)
        case .interrupt: "C-c"
        case .redraw: "C-l"
        }
    }

    /// The key a word of a default label stands for (`↑`, `PgUp`, `Space`, `q`).
    private static func key(inLabel word: String) -> Key? {
        let names: [String: Key] = [
            "↑": .up, "↓": .down, "←": .left, "→": .right, "PgUp": .pageUp, "PgDn": .pageDown, "Home": .home, "End": .end,
            "Enter": .enter, "Esc": .escape, "Tab": .tab, "Space": .character(" "),
        ]
        if let key = names[word] { return key }
        return word.count == 1 ? .character(word.first!) : nil
    }

    /// A key label of the help overlay or the hint line (`↑ ↓  k j`, `x`, `←→`) as this map binds those actions: the
    /// keys of an action the config changed replace its default keys (`—` when it is disabled); the rest is kept.
    public func label(_ defaultLabel: String) -> String {
        guard !changedActions.isEmpty else { return defaultLabel }
        var shown = Set<KeyAction>()
        var changed = false
        func rewrite(_ word: String) -> String? {
            guard let key = Self.key(inLabel: word), let action = Self.defaultActions[key], bindings[action] != action.defaultKeys
            else { return word }
            changed = true
            guard shown.insert(action).inserted else { return nil }
            let keys = keys(for: action)
            return keys.isEmpty ? "—" : keys.map(Self.display).joined(separator: " ")
        }
        let groups = defaultLabel.components(separatedBy: "  ").map { group in
            group.split(separator: " ").flatMap { word -> [String] in
                // Adjacent arrows (`↑↓`, `←→`) are two keys.
                let text = String(word)
                if text.count > 1, text.allSatisfy({ "↑↓←→".contains($0) }) { return text.map(String.init) }
                return [text]
            }.compactMap(rewrite).joined(separator: " ")
        }
        return changed ? groups.filter { !$0.isEmpty }.joined(separator: "  ") : defaultLabel
    }
}
