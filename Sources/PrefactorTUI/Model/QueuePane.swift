import Foundation
import PrefactorCore

/// One attempt at delivering an operation, as the client reported it.
public struct OperationAttempt: Sendable, Hashable {
    /// How the attempt went.
    public enum Status: Sendable, Hashable {
        /// Sent; no answer yet.
        case inFlight
        /// Failed; another attempt follows at `nextAttemptAt`.
        case retrying(error: String, nextAttemptAt: Date)
        /// The API accepted it.
        case delivered
        /// Failed for good.
        case failed(reason: String)
    }

    /// The attempt's number (1 for the first).
    public var number: Int
    /// When it was sent.
    public var sentAt: Date
    /// When its outcome was known.
    public var settledAt: Date?
    /// How it went.
    public var status: Status

    /// Creates an attempt.
    public init(number: Int, sentAt: Date, settledAt: Date? = nil, status: Status = .inFlight) {
        self.number = number
        self.sentAt = sentAt
        self.settledAt = settledAt
        self.status = status
    }
}

/// A line of the queue pane: an operation still queued, one that failed for good and was not discarded, or an
/// operation of another process's queue file.
public enum QueueItem: Sendable, Hashable {
    case queued(OperationSnapshot)
    case failed(FailedOperation)
    case stored(QueueFileEntry)

    /// The operation id.
    public var id: UInt64 {
        switch self {
        case .queued(let snapshot): return snapshot.id
        case .failed(let failure): return failure.operation.id
        case .stored(let entry): return entry.id
        }
    }

    /// The operation, when it is known (a record of a queue file may be unreadable).
    public var operation: TelemetryOperation? {
        switch self {
        case .queued(let snapshot): return snapshot.operation
        case .failed(let failure): return failure.operation
        case .stored(let entry): return entry.operation
        }
    }

    /// The kind of call.
    public var kind: String {
        if case .stored(let entry) = self { return entry.kind }
        return operation?.kind.rawValue ?? "?"
    }
}

/// Where the data of a run or span is.
public enum DataLocation: Sendable, Hashable {
    /// Queued in this process's memory only: a crash loses it.
    case memory(operations: Int)
    /// Queued in the queue file.
    case disk(file: String, operations: Int)
    /// Everything of it the UI saw was delivered.
    case delivered
    /// Nothing of it went through this process's queue (another process's run, or nothing sent yet).
    case unknown
}

extension AppModel {
    /// Attempts kept in all (the oldest operations' are forgotten first).
    static let attemptsKept = 4096

    mutating func recordAttempt(_ id: UInt64, number: Int) {
        var list = attempts[id] ?? []
        list.append(OperationAttempt(number: number, sentAt: now))
        attempts[id] = list
        if attempts.count > Self.attemptsKept {
            for old in attempts.keys.sorted().prefix(attempts.count - Self.attemptsKept * 3 / 4) { attempts[old] = nil }
        }
    }

    mutating func settleAttempt(_ id: UInt64, _ status: OperationAttempt.Status) {
        guard var list = attempts[id], let last = list.indices.last, list[last].status == .inFlight else {
            // No attempt seen (an operation that failed before it was sent, or events before this view began).
            if case .failed = status {
                attempts[id, default: []].append(OperationAttempt(number: 0, sentAt: now, settledAt: now, status: status))
            }
            return
        }
        list[last].status = status
        list[last].settledAt = now
        attempts[id] = list
    }

    /// The queue pane's lines: queued operations (those retrying first, then in flight, pending and blocked), then
    /// the ones that failed for good and were not discarded, oldest first.
    public var queueItems: [QueueItem] {
        if let fileView { return fileView.entries.map(QueueItem.stored) }
        let queued = operations.values.sorted { lhs, rhs in
            let l = Self.queueRank(lhs.state), r = Self.queueRank(rhs.state)
            return l != r ? l < r : lhs.id < rhs.id
        }
        var seen = Set<UInt64>()
        let failed = failures.filter {
            !discarded.contains($0.operation.id) && operations[$0.operation.id] == nil && seen.insert($0.operation.id).inserted
        }
        return queued.map(QueueItem.queued) + failed.sorted { $0.operation.id < $1.operation.id }.map(QueueItem.failed)
    }

    static func queueRank(_ state: OperationState) -> Int {
        switch state {
        case .retrying: return 0
        case .inFlight: return 1
        case .pending: return 2
        case .blocked: return 3
        }
    }

    /// The selected line of the queue pane: the selected operation while it is listed, else the first.
    public var selectedQueueIndex: Int? {
        let items = queueItems
        guard !items.isEmpty else { return nil }
        return queueSelection.flatMap { id in items.firstIndex { $0.id == id } } ?? 0
    }

    /// The operation shown in full, when it is still known (queued or failed; a delivered one keeps its attempts).
    public var detailedOperation: QueueItem? {
        guard let id = operationDetail else { return nil }
        if let fileView { return fileView.entries.first { $0.id == id }.map(QueueItem.stored) }
        if let snapshot = operations[id] { return .queued(snapshot) }
        return failures.last { $0.operation.id == id }.map(QueueItem.failed)
    }

    /// Where the data of a node is: queued in memory or in the queue file, or delivered.
    public func dataLocation(of node: NodeID) -> DataLocation {
        let queued = operations(for: node).count
        let failed = (settledOperations[node] ?? []).filter { operation in
            if case .failed = operation.outcome { return !discarded.contains(operation.id) }
            return false
        }.count
        if queued + failed > 0 {
            if let queueFile { return .disk(file: queueFile, operations: queued + failed) }
            return .memory(operations: queued + failed)
        }
        if settledOperations[node]?.isEmpty == false { return .delivered }
        return .unknown
    }

    /// Marks a failed operation as discarded: it leaves the queue pane, with a message saying where it was removed.
    public mutating func operationDiscarded(_ id: UInt64, fromFile file: String?) {
        discarded.insert(id)
        if operationDetail == id { operationDetail = nil }
        let text =
            file.map { "Discarded #\(id): removed from \($0) (recorded as dropped)" }
            ?? "Discarded #\(id): removed from the list (it was kept in memory only)"
        message = Message(text: text, isError: false)
    }

    /// Keys of the queue pane when it has the focus; `nil` for a key it does not handle.
    mutating func handleQueue(_ key: Key) -> [Effect]? {
        let items = queueItems
        let index = selectedQueueIndex
        if let step = Self.scrollStep(for: key, page: 11) {
            guard !items.isEmpty else { return [] }
            let target = min(max(0, (index ?? 0) + step), items.count - 1)
            queueSelection = items[target].id
            return []
        }
        guard let index, items.indices.contains(index) else {
            switch key {
            case .character("D"):
                return takeOverViewedFile()
            case .enter, .character("r"), .character("d"), .character("t"):
                message = Message(text: "Nothing queued", isError: false)
                return []
            default: return nil
            }
        }
        let item = items[index]
        switch key {
        case .enter:
            queueSelection = item.id
            operationDetail = item.id
            detailScroll = 0
            return []
        case .character("D"):
            return takeOverViewedFile()
        case .character("t"):
            guard let operation = item.operation else { return refuseQueue("Its record cannot be read") }
            guard let spanID = operation.spanID else {
                let node = NodeID.instance(operation.instanceID)
                guard tree.instances[operation.instanceID] != nil else { return refuseQueue("Its run is not in the tree") }
                jump(to: node)
                return []
            }
            guard tree.spans[spanID] != nil else { return refuseQueue("Its span is not in the tree") }
            jump(to: .span(spanID))
            return []
        case .character("r") where fileView != nil, .character("d") where fileView != nil:
            return refuseQueue("\(fileView?.path ?? "The file") is shown read-only; D takes it over when its owner is dead")
        case .character("r"):
            guard case .queued(let snapshot) = item, case .retrying = snapshot.state else {
                return refuseQueue("#\(item.id) is not waiting out a backoff; r retries one that is")
            }
            message = Message(text: "Retrying #\(item.id) now", isError: false)
            return [.retryNow(item.id)]
        case .character("d"):
            if readonly { return refuseQueue("Read-only mode: d is disabled") }
            guard case .failed = item else { return refuseQueue("Only an operation that failed for good can be discarded") }
            let question = "Discard failed #\(item.id) \(item.kind)? It will never be delivered. (y/n)"
            let effect = Effect.discardOperation(item.id)
            if noConfirm { return [effect] }
            confirmation = Confirmation(question: question, effect: effect)
            return []
        default:
            return nil
        }
    }

    private mutating func refuseQueue(_ text: String) -> [Effect] {
        message = Message(text: text, isError: true)
        return []
    }

    /// Selects a node in the tree (opening its folded ancestors) and gives the tree the focus.
    private mutating func jump(to node: NodeID) {
        var ancestor = tree.parent(of: node)
        while let current = ancestor {
            collapsed.remove(current)
            ancestor = tree.parent(of: current)
        }
        if !filter.isEmpty || errorsOnly {
            filter = ""
            errorsOnly = false
        }
        selection = node
        follow = false
        focus = .tree
        operationDetail = nil
        detailScroll = 0
        refreshRows()
        clampScroll()
    }
}
