import Foundation
import PrefactorCore

/// Another process's queue file as the UI shows it: read again every poll interval, read-only while its owner
/// lives; when the owner is dead it can be taken over (delivered by a client of this process on that file).
public struct QueueFileView: Sendable, Hashable {
    /// The file.
    public var path: String
    /// Who owns (or owned) it.
    public var owner: SQLiteTelemetryQueueStore.Owner?
    /// Whether a live process holds it.
    public var ownerAlive: Bool
    /// Its operations, oldest first.
    public var entries: [QueueFileEntry]
    /// Why it could not be read, when it could not.
    public var problem: String?
    /// When it was read.
    public var readAt: Date
    /// Whether this process took it over and is delivering it.
    public var takingOver = false

    /// Creates a view.
    public init(
        path: String, owner: SQLiteTelemetryQueueStore.Owner?, ownerAlive: Bool, entries: [QueueFileEntry],
        problem: String? = nil,
        readAt: Date
    ) {
        self.path = path
        self.owner = owner
        self.ownerAlive = ownerAlive
        self.entries = entries
        self.problem = problem
        self.readAt = readAt
    }

    /// Reads a file (read-only, whoever owns it); never throws: a file that cannot be read says why.
    public static func read(_ path: String, at time: Date = Date()) -> QueueFileView {
        let alive = SQLiteTelemetryQueueStore.isOwned(path: path)
        do {
            let store = try SQLiteTelemetryQueueStore.inspect(path: path)
            return QueueFileView(path: path, owner: store.owner(), ownerAlive: alive, entries: try store.entries(), readAt: time)
        } catch {
            let reason = (error as? PrefactorError)?.message ?? "\(error)"
            return QueueFileView(path: path, owner: nil, ownerAlive: alive, entries: [], problem: reason, readAt: time)
        }
    }

    /// Operations that failed for good.
    public var failedCount: Int { entries.filter { $0.failedReason != nil }.count }

    /// One line about the file and its owner.
    public var summary: String {
        // The program's name, not its whole command line.
        let who =
            owner.map { owner in
                "pid \(owner.pid) "
                    + ((owner.command.split(separator: " ").first.map(String.init) ?? owner.command) as NSString)
                    .lastPathComponent
            } ?? "unknown owner"
        let state: String
        if takingOver {
            state = "taken over: delivering"
        } else if ownerAlive {
            state = "\(who) running: read-only"
        } else {
            state = "\(who) dead: D takes it over and delivers it"
        }
        // The state first: a long path is what the edge of the screen cuts.
        return "\(state); \(entries.count) operation(s), \(failedCount) failed; \(path)"
    }
}

/// The queue files found, to pick one to open.
public struct QueueFilePicker: Sendable, Hashable {
    /// The files and what each holds, newest first.
    public var files: [QueueFiles.Summary]
    /// The selected line.
    public var index = 0

    /// Creates a picker.
    public init(files: [QueueFiles.Summary]) {
        self.files = files
    }
}

extension AppModel {
    /// Shows a newly read state of the viewed file (keeping whether this process is taking it over).
    public mutating func applyQueueFile(_ view: QueueFileView) {
        var view = view
        if let current = fileView, current.path == view.path { view.takingOver = current.takingOver }
        fileView = view
    }

    /// Keys of the picker; `nil` when no picker is open.
    mutating func handlePicker(_ key: Key) -> [Effect]? {
        guard var picker = queuePicker else { return nil }
        if let step = Self.scrollStep(for: key, page: 11) {
            picker.index = min(max(0, picker.index + step), max(0, picker.files.count - 1))
            queuePicker = picker
            return []
        }
        switch key {
        case .escape, .character("q"):
            queuePicker = nil
        case .enter:
            queuePicker = nil
            guard picker.files.indices.contains(picker.index) else { return [] }
            let path = picker.files[picker.index].path
            focus = .queue
            queueSelection = nil
            operationDetail = nil
            message = Message(text: "Opening \(path)", isError: false)
            return [.openQueueFile(path)]
        default:
            break
        }
        return []
    }

    /// `D` in the queue pane: take over the viewed file when its owner is dead (after y/n).
    mutating func takeOverViewedFile() -> [Effect] {
        guard let view = fileView else {
            message = Message(text: "No queue file is open (O lists them)", isError: true)
            return []
        }
        if readonly {
            message = Message(text: "Read-only mode: D is disabled", isError: true)
            return []
        }
        if view.takingOver {
            message = Message(text: "Already delivering \(view.path)", isError: false)
            return []
        }
        guard !view.ownerAlive else {
            let who = view.owner.map { "process \($0.pid)" } ?? "another process"
            message = Message(text: "\(view.path) belongs to \(who), which is running: read-only", isError: true)
            return []
        }
        let effect = Effect.takeOverQueueFile(view.path)
        let question = "Take over \(view.path) and deliver its \(view.entries.count) operation(s) to \(apiURL)? (y/n)"
        if noConfirm { return [effect] }
        confirmation = Confirmation(question: question, effect: effect)
        return []
    }

    /// Marks the viewed file as taken over by this process.
    public mutating func queueFileTakenOver(_ path: String) {
        guard fileView?.path == path else { return }
        fileView?.takingOver = true
        message = Message(text: "Delivering \(path)…", isError: false)
    }
}
