import Foundation
import PrefactorCore
import PrefactorWire

/// The order of sibling rows (and of runs).
public enum RowSort: String, Sendable, Hashable, CaseIterable {
    /// When they started (or were prepared): the order they ran in.
    case start
    /// Longest first (running ones count up to now).
    case duration
    /// Problems first: failed, terminated, gone, cancelled, then running, waiting, prepared, complete.
    case status

    /// The next order `S` switches to.
    var next: RowSort { Self.allCases[(Self.allCases.firstIndex(of: self)! + 1) % Self.allCases.count] }

    /// What the order is called on screen.
    public var label: String {
        switch self {
        case .start: return "start time"
        case .duration: return "duration"
        case .status: return "status"
        }
    }
}

/// Which rows the status filter keeps (their ancestors show too).
public enum StatusFilter: String, Sendable, Hashable, CaseIterable {
    /// Every row.
    case all
    /// Running (active) runs and spans.
    case running
    /// Failed ones, and spans whose operation failed for good.
    case failed
    /// Those that ended: complete, failed, cancelled or terminated.
    case finished

    /// The next filter `v` switches to.
    var next: StatusFilter { Self.allCases[(Self.allCases.firstIndex(of: self)! + 1) % Self.allCases.count] }

    /// Whether a node of this status passes.
    func keeps(_ status: DisplayStatus, syncFailed: Bool) -> Bool {
        switch self {
        case .all: return true
        case .running: return status == .active
        case .failed: return status == .failed || syncFailed
        case .finished: return [.complete, .failed, .cancelled, .terminated].contains(status)
        }
    }
}

/// The timeline's view of time: how far it is zoomed into the run, and where the window starts.
public struct TimelineState: Sendable, Hashable {
    /// How many times the window is shorter than the run (1: the whole run).
    public var zoom: Double = 1
    /// Where the window starts, in seconds after the run's start.
    public var offset: TimeInterval = 0

    /// The most the timeline zooms in.
    public static let maximumZoom: Double = 1024

    /// The whole run.
    public init(zoom: Double = 1, offset: TimeInterval = 0) {
        self.zoom = zoom
        self.offset = offset
    }
}

/// Updates held back while the view is frozen, applied in order when it thaws.
public struct FrozenUpdates: Sendable {
    /// One held update.
    public enum Update: Sendable {
        /// An event of the core client.
        case client(ClientEvent)
        /// A fresh snapshot of the core client (it replaces the client events held before it).
        case snapshot(ClientSnapshot)
        /// What the remote watcher reported.
        case remote(RemoteEvent)
    }

    /// The moment shown (durations stop there).
    public var at: Date
    /// The updates, oldest first.
    public internal(set) var updates: [Update] = []
    /// Client events dropped because too many waited: a fresh snapshot is taken on thawing instead.
    public internal(set) var needsSnapshot = false
    /// How many updates arrived while frozen (held, or dropped for a snapshot).
    public internal(set) var waiting = 0

    /// Client events held at most; past that they are dropped and a snapshot replaces them.
    public static let maximumHeld = 100_000

    /// Freezes at a moment.
    public init(at: Date) { self.at = at }

    mutating func hold(_ update: Update) {
        waiting += 1
        switch update {
        case .snapshot:
            // A snapshot has everything the client events before it said.
            updates.removeAll { if case .remote = $0 { false } else { true } }
            needsSnapshot = false
        case .client:
            guard !needsSnapshot else { return }
            if updates.count >= Self.maximumHeld {
                updates.removeAll { if case .remote = $0 { false } else { true } }
                needsSnapshot = true
                return
            }
        case .remote:
            break
        }
        updates.append(update)
    }
}

extension AppModel {
    /// Whether a node passes every criterion set: the text filter, errors only and the status filter.
    func matchesCriteria(_ node: NodeID) -> Bool {
        if errorsOnly && !tree.isError(node) { return false }
        if !filter.isEmpty && !matchesFilter(node) { return false }
        guard statusFilter != .all else { return true }
        guard let status = tree.status(of: node) else { return false }
        let syncFailed = node.spanID.flatMap { tree.spans[$0]?.syncFailed } ?? false
        return statusFilter.keeps(status, syncFailed: syncFailed)
    }

    /// Siblings in the chosen order; ties keep the order they came in (by start).
    func sorted(_ nodes: [NodeID]) -> [NodeID] {
        switch sort {
        case .start:
            return nodes
        case .duration:
            let keyed = nodes.enumerated().map { (node: $0.element, index: $0.offset, duration: duration(of: $0.element)) }
            return keyed.sorted { ($0.duration, -$0.index) > ($1.duration, -$1.index) }.map(\.node)
        case .status:
            let keyed = nodes.enumerated().map { (node: $0.element, index: $0.offset, rank: statusRank($0.element)) }
            return keyed.sorted { ($0.rank, $0.index) < ($1.rank, $1.index) }.map(\.node)
        }
    }

    /// How long a node ran (running ones: until now; never started: 0).
    func duration(of node: NodeID) -> TimeInterval {
        switch node {
        case .instance(let id):
            guard let instance = tree.instances[id]?.instance else { return 0 }
            let start = instance.startedAt ?? instance.registeredAt
            return (instance.finishedAt ?? tree.instances[id]?.gone?.at ?? now).timeIntervalSince(start)
        case .span(let id):
            guard let span = tree.spans[id]?.span, let start = span.startedAt else { return 0 }
            return (span.finishedAt ?? (span.phase.isFinished ? start : now)).timeIntervalSince(start)
        }
    }

    private func statusRank(_ node: NodeID) -> Int {
        if node.spanID.flatMap({ tree.spans[$0]?.syncFailed }) == true { return 0 }
        switch tree.status(of: node) ?? .gone {
        case .failed: return 0
        case .terminated: return 1
        case .gone: return 2
        case .cancelled: return 3
        case .active: return 4
        case .pending: return 5
        case .prepared: return 6
        case .complete: return 7
        }
    }

    // MARK: Freeze

    /// Holds an update back while frozen.
    mutating func hold(_ update: FrozenUpdates.Update) {
        frozen?.hold(update)
    }

    /// Stops applying updates: the screen shows this moment until ``thaw()``.
    public mutating func freeze() {
        guard frozen == nil else { return }
        frozen = FrozenUpdates(at: clock)
    }

    /// Applies every update held while frozen, in order.
    ///
    /// - Returns: `true` when client events were dropped (too many waited): the caller loads a fresh snapshot.
    @discardableResult
    public mutating func thaw() -> Bool {
        guard let held = frozen else { return false }
        frozen = nil
        for update in held.updates {
            switch update {
            case .client(let event): apply(event)
            case .snapshot(let snapshot): load(snapshot)
            case .remote(let event): merge(event)
            }
        }
        refreshRows()
        if follow { followNewest() }
        return held.needsSnapshot
    }
}
