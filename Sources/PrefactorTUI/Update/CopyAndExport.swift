import PrefactorCore
import PrefactorWire

/// What `y` copies: the text, and how the message names it.
public struct CopyChoice: Hashable, Sendable {
    /// The text put on the clipboard.
    public var text: String
    /// What it is, for the message (`the API id of llm:chat`).
    public var what: String
}

extension AppModel {
    /// What `y` copies from the focused pane: in the tree, the selection's id (the API's id of a span once it has
    /// one); in the detail pane, a span's payload as JSON (or the run's id); in the queue, or with an operation shown
    /// in full, the operation's idempotency key. `nil` when there is nothing to copy.
    public var copyChoice: CopyChoice? {
        if focus == .queue || operationDetail != nil {
            let item = operationDetail != nil ? detailedOperation : selectedQueueIndex.map { queueItems[$0] }
            guard let item, let operation = item.operation else { return nil }
            return CopyChoice(text: operation.idempotencyKey, what: "the idempotency key of #\(item.id) \(item.kind)")
        }
        guard let selection else { return nil }
        switch selection {
        case .instance(let id):
            return CopyChoice(text: id, what: "the run id")
        case .span(let id):
            guard let span = tree.spans[id]?.span else { return nil }
            if focus == .detail {
                return CopyChoice(text: JSONValue.object(span.payload).prettyPrinted, what: "the payload of \(span.schemaName)")
            }
            if let apiID = span.apiID { return CopyChoice(text: apiID, what: "the API id of \(span.schemaName)") }
            return CopyChoice(text: id, what: "the local id of \(span.schemaName) (not delivered yet)")
        }
    }

    /// `y`: copies the focused pane's choice, saying what was copied.
    mutating func copySelection() -> [Effect] {
        guard let choice = copyChoice else {
            message = Message(text: "Nothing to copy here", isError: true)
            return []
        }
        let preview = choice.text.count > 40 || choice.text.contains("\n") ? "" : ": " + choice.text
        message = Message(text: "Copied \(choice.what)\(preview)", isError: false)
        return [.copyToClipboard(choice.text)]
    }

    /// `E`: exports the run of the selection (a run, or the run a span belongs to).
    mutating func exportSelection() -> [Effect] {
        guard let selection, let id = tree.instanceID(of: selection) else {
            message = Message(text: "Select a run to export", isError: true)
            return []
        }
        message = Message(text: "Exporting run \(id)…", isError: false)
        return [.exportRun(id)]
    }
}
