import Foundation
import PrefactorWire

/// A key press, as the UI understands it.
public enum Key: Hashable, Sendable {
    /// A printable character.
    case character(Character)
    case up, down, left, right, pageUp, pageDown, home, end
    case enter, escape, tab, backTab, backspace
    /// The Delete key (deletes under the cursor in a prompt).
    case delete
    /// Ctrl and a letter (lower case): Ctrl-A, Ctrl-E, Ctrl-U and Ctrl-W edit prompts.
    case control(Character)
    /// Ctrl-C.
    case interrupt
    /// Ctrl-L: redraw.
    case redraw
}

/// Something the operator asked for that the runtime carries out with the core client.
public enum Effect: Hashable, Sendable {
    /// Register and start a new instance.
    case newInstance
    /// Prepare a span (and select it).
    case addSpan(instanceID: String, parentSpanID: String?, schemaName: String)
    /// Start a prepared span.
    case startSpan(String)
    /// Finish a started span.
    case finishSpan(String, FinishStatus)
    /// Cancel a span that never started (cancel-unstarted path).
    case cancelUnstarted(String)
    /// Finish an instance.
    case finishInstance(String, FinishStatus)
    /// Terminate an instance on the server.
    case terminateInstance(String)
    /// Pause or resume the demo agent.
    case toggleDemo
    /// Quit: drain the queue first, or at once.
    case quit(drain: Bool)
    /// Ctrl-C: quit at once, as an interrupted program (exit status 130).
    case interrupt
    /// Take a fresh snapshot (events were dropped).
    case resync
    /// Fetch the spans of a remote instance the operator opened.
    case loadRemoteSpans(String)
    /// Poll the API at this interval (seconds).
    case setWatchInterval(Double)
    /// Send an operation that waits out a backoff now.
    case retryNow(UInt64)
    /// Discard an operation that failed for good (from the queue file, or from the list when in memory).
    case discardOperation(UInt64)
    /// List the queue files found (the picker).
    case listQueueFiles
    /// Show another process's queue file, read again every poll interval.
    case openQueueFile(String)
    /// Stop showing another process's queue file: back to this process's queue.
    case closeQueueFile
    /// Deliver a dead process's queue file with a client of this process on it.
    case takeOverQueueFile(String)
    /// Put text on the terminal's clipboard (OSC 52).
    case copyToClipboard(String)
    /// Write a run with all its spans, as the API has them, to a JSON file.
    case exportRun(String)
}

/// The pane that has the keyboard.
public enum Pane: String, Hashable, Sendable, CaseIterable {
    case tree, detail, queue
}

/// A y/n question before a destructive action.
public struct Confirmation: Hashable, Sendable {
    /// The question.
    public var question: String
    /// What the question is about, done on `y`.
    public var effect: Effect
    /// What is done first on `y` (open spans under a finished node are cancelled).
    public var before: [Effect]

    /// Creates a question.
    public init(question: String, effect: Effect, before: [Effect] = []) {
        self.question = question
        self.effect = effect
        self.before = before
    }

    /// Everything done on `y`, in order.
    public var effects: [Effect] { before + [effect] }
}

/// A one-line text prompt (the schema name of a new span): a small line editor with a cursor, the usual Ctrl keys
/// and history. An empty prompt shows its default as a hint; Enter on it takes the default.
public struct Prompt: Hashable, Sendable {
    /// The label.
    public var label: String
    /// The text typed so far.
    public var text: String
    /// The cursor, in characters from the start of ``text``.
    public var cursor: Int
    /// What Enter takes when nothing was typed (shown as a hint).
    public var placeholder: String
    /// Where the span goes.
    public var instanceID: String
    /// Its parent.
    public var parentSpanID: String?
    /// The entry of the history shown (Up/Down), `nil` while editing fresh text.
    public var historyIndex: Int?

    /// The longest text a prompt takes.
    public static let maximumLength = 80

    /// Creates a prompt; `text` starts typed, with the cursor at its end.
    public init(label: String, text: String = "", placeholder: String = "", instanceID: String, parentSpanID: String?) {
        self.label = label
        self.text = text
        self.cursor = text.count
        self.placeholder = placeholder
        self.instanceID = instanceID
        self.parentSpanID = parentSpanID
    }

    /// What Enter submits: the text, or the placeholder when nothing was typed.
    public var value: String {
        let typed = text.trimmingCharacters(in: .whitespaces)
        return typed.isEmpty ? placeholder : typed
    }

    /// Applies an editing key; `false` when the key is not an editing key.
    public mutating func edit(_ key: Key) -> Bool {
        var characters = Array(text)
        cursor = min(max(0, cursor), characters.count)
        switch key {
        case .character(let character) where !character.isNewline:
            guard characters.count < Self.maximumLength else { return true }
            characters.insert(character, at: cursor)
            cursor += 1
        case .backspace:
            guard cursor > 0 else { return true }
            characters.remove(at: cursor - 1)
            cursor -= 1
        case .delete, .control("d"):
            guard cursor < characters.count else { return true }
            characters.remove(at: cursor)
        case .left, .control("b"): cursor = max(0, cursor - 1)
        case .right, .control("f"): cursor = min(characters.count, cursor + 1)
        case .home, .control("a"): cursor = 0
        case .end, .control("e"): cursor = characters.count
        case .control("u"):
            characters.removeSubrange(0..<cursor)
            cursor = 0
        case .control("k"):
            characters.removeSubrange(cursor...)
        case .control("w"):
            // The word before the cursor, and the spaces after it.
            var start = cursor
            while start > 0, characters[start - 1] == " " { start -= 1 }
            while start > 0, characters[start - 1] != " " { start -= 1 }
            characters.removeSubrange(start..<cursor)
            cursor = start
        default:
            return false
        }
        text = String(characters)
        return true
    }

    /// Shows an entry of the history (`nil`: back to an empty line), with the cursor at its end.
    public mutating func recall(_ entry: String?, index: Int?) {
        text = entry ?? ""
        cursor = text.count
        historyIndex = index
    }
}

/// A transient message on the last line.
public struct Message: Hashable, Sendable {
    /// The text.
    public var text: String
    /// Whether it reports a failure.
    public var isError: Bool

    /// Creates a message.
    public init(text: String, isError: Bool) {
        self.text = text
        self.isError = isError
    }
}
