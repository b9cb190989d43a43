import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorWire

/// The state of the remote view: how fresh it is and whether polling works.
public struct RemoteView: Sendable, Hashable {
    /// When the last poll succeeded.
    public var lastSuccess: Date?
    /// The last poll's failure, while polls fail.
    public var failure: RemoteFailure?
    /// Finished remote runs older than this leave the view.
    public var ageOut: TimeInterval
    /// At most this many finished remote runs stay in view.
    public var maxFinished: Int
    /// Agent names by id.
    public var agentNames: [String: String] = [:]
    /// Seconds between polls (`W` cycles through ``intervalChoices``).
    public var interval: TimeInterval
    /// What the last poll found about the API (auth failed, unreachable...), `nil` or `.ok` when it worked.
    public var check: APICheckResult?

    /// The poll intervals `W` cycles through.
    public static let intervalChoices: [TimeInterval] = [1, 2, 5, 10, 30]

    /// Creates the state of a remote view.
    public init(ageOut: TimeInterval = 15 * 60, maxFinished: Int = 200, interval: TimeInterval = 1) {
        self.ageOut = ageOut
        self.maxFinished = maxFinished
        self.interval = interval
    }

    /// An interval as text: `1s`, `0.5s`.
    public static func describe(_ interval: TimeInterval) -> String {
        interval == interval.rounded() ? "\(Int(interval))s" : String(format: "%.1fs", interval)
    }
}

/// Why the remote view is not fresh.
public struct RemoteFailure: Sendable, Hashable {
    /// What went wrong.
    public var message: String
    /// Failed polls in a row.
    public var failures: Int
    /// When the next poll runs.
    public var retryAt: Date
}

extension AppModel {
    /// Applies what the remote watcher reported: merges new and changed remote items into the tree (without moving
    /// the selection), records freshness or the failure (keeping the tree as it is), then ages out old finished runs.
    ///
    /// - Returns: Instances that left the view (the watcher can stop following them).
    @discardableResult
    public mutating func apply(_ event: RemoteEvent) -> [String] {
        if frozen != nil {
            hold(.remote(event))
            return []
        }
        merge(event)
        let removed = ageOutRemote()
        refreshRows()
        if follow { followNewest() }
        return removed
    }

    /// Merges what the remote watcher reported, without ageing runs out (the next report does that, and returns them).
    mutating func merge(_ event: RemoteEvent) {
        var view = remote ?? RemoteView()
        defer { remote = view }
        switch event {
        case .changes(let changes):
            for agent in changes.agents { view.agentNames[agent.id] = agent.name }
            for instance in changes.instances {
                let isNew = tree.instances[instance.id] == nil
                guard tree.upsertRemote(instance, at: now) else { continue }
                // Runs that are already over start folded; live ones open so their spans show.
                if isNew, instance.status != .active, instance.status != .pending { collapsed.insert(.instance(instance.id)) }
            }
            for span in changes.spans { tree.upsertRemote(span, at: now) }
            for id in changes.loadedInstances { tree.markLoaded(id) }
            view.lastSuccess = changes.at
            view.failure = nil
            view.check = nil
            // The API answered a list with this token: whatever the check at start found is over.
            if apiCheck != nil, apiCheck != .ok { apiCheck = .ok }
        case .failed(let message, let failures, let retryAt):
            // A new reason is said on the message line once; the header keeps the label.
            if view.failure?.message != message { self.message = Message(text: "Watching failed: " + message, isError: true) }
            view.failure = RemoteFailure(message: message, failures: failures, retryAt: retryAt)
        case .checked(let result):
            view.check = result == .ok ? nil : result
        case .gone(let id, let reason):
            tree.markGone(id, reason: reason, at: now)
            self.message = Message(text: "Run \(id) is gone: \(reason)", isError: true)
        }
        remote = view
    }

    /// Removes finished remote runs that ended longer ago than the age-out time, and all but the newest
    /// ``RemoteView/maxFinished`` finished remote runs. The selected run stays.
    ///
    /// - Returns: The instances removed.
    @discardableResult
    public mutating func ageOutRemote() -> [String] {
        guard let view = remote else { return [] }
        let selectedInstance = selection.flatMap { tree.instanceID(of: $0) }
        let finished = tree.remoteInstances.compactMap { id -> (id: String, ended: Date)? in
            guard let node = tree.instances[id], node.instance.phase.isFinished else { return nil }
            return (id, node.instance.finishedAt ?? node.history.last?.at ?? now)
        }.sorted { ($0.ended, $0.id) > ($1.ended, $1.id) }
        var removed: [String] = []
        for (index, run) in finished.enumerated() where run.id != selectedInstance {
            if index >= view.maxFinished || now.timeIntervalSince(run.ended) > view.ageOut {
                tree.removeInstance(run.id)
                collapsed.remove(.instance(run.id))
                removed.append(run.id)
            }
        }
        return removed
    }

    /// Whether the node belongs to a run of another process (read-only here, except terminate).
    public func isRemote(_ node: NodeID) -> Bool {
        guard let instanceID = tree.instanceID(of: node) else { return false }
        return tree.isRemote(node) || tree.remoteInstances.contains(instanceID)
    }

    /// Whether a remote instance's spans still have to be fetched before it can be opened.
    public func needsRemoteSpans(_ node: NodeID) -> Bool {
        guard case .instance(let id) = node else { return false }
        return tree.remoteInstances.contains(id) && !tree.loadedRemoteInstances.contains(id)
    }
}
