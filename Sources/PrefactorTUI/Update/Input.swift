import PrefactorWire

/// A key press, as the UI understands it.
public enum Key: Hashable, Sendable {
    /// A printable character.
    case character(Character)
    case up, down, left, right, pageUp, pageDown, home, end
    case enter, escape, tab, backTab, backspace
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
}

/// The pane that has the keyboard.
public enum Pane: String, Hashable, Sendable, CaseIterable {
    case tree, detail, queue
}

/// A y/n question before a destructive action.
public struct Confirmation: Hashable, Sendable {
    /// The question.
    public var question: String
    /// What happens on `y`.
    public var effect: Effect

    /// Creates a question.
    public init(question: String, effect: Effect) {
        self.question = question
        self.effect = effect
    }
}

/// A one-line text prompt (the schema name of a new span).
public struct Prompt: Hashable, Sendable {
    /// The label.
    public var label: String
    /// The text typed so far.
    public var text: String
    /// Where the span goes.
    public var instanceID: String
    /// Its parent.
    public var parentSpanID: String?

    /// Creates a prompt.
    public init(label: String, text: String, instanceID: String, parentSpanID: String?) {
        self.label = label
        self.text = text
        self.instanceID = instanceID
        self.parentSpanID = parentSpanID
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
