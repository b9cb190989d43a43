import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorWire

/// How bad the header's health is.
public enum HealthLevel: Int, Sendable, Hashable, Comparable {
    case ok, warning, error

    public static func < (lhs: HealthLevel, rhs: HealthLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The health the header shows, and why.
public struct ShownHealth: Sendable, Hashable {
    /// The label, e.g. `ok`, `auth failed`, `unreachable`.
    public var label: String
    /// How bad it is.
    public var level: HealthLevel
    /// Why, when it is not ok.
    public var reason: String?
}

extension AppModel {
    /// The health the header shows: the worst of what this process learnt from the API, from every kind of request
    /// it makes: deliveries (the core client's health), the check at start, and the watcher's polls. A source that
    /// later succeeds clears what it reported.
    public var shownHealth: ShownHealth {
        var candidates: [ShownHealth] = []
        switch health {
        case .ok: break
        case .retrying: candidates.append(ShownHealth(label: "retrying", level: .warning, reason: lastDeliveryError))
        case .unreachable: candidates.append(ShownHealth(label: "down", level: .error, reason: lastDeliveryError))
        case .authFailed: candidates.append(ShownHealth(label: "auth failed", level: .error, reason: lastDeliveryError))
        }
        if let check = apiCheck, let shown = Self.shown(check) { candidates.append(shown) }
        if let check = remote?.check, let shown = Self.shown(check) { candidates.append(shown) }
        return candidates.max { $0.level < $1.level } ?? ShownHealth(label: "ok", level: .ok, reason: nil)
    }

    static func shown(_ check: APICheckResult) -> ShownHealth? {
        switch check {
        case .ok: return nil
        case .authFailed(let reason): return ShownHealth(label: "auth failed", level: .error, reason: reason)
        case .unreachable(let reason): return ShownHealth(label: "unreachable", level: .error, reason: reason)
        case .notPrefactorAPI(let reason): return ShownHealth(label: "not a Prefactor API", level: .error, reason: reason)
        case .failing(let reason): return ShownHealth(label: "failing", level: .warning, reason: reason)
        }
    }

    /// Records the check of the API at start; a failure is also said on the message line.
    public mutating func applyCheck(_ result: APICheckResult) {
        apiCheck = result
        if let explanation = result.explanation { message = Message(text: "API check failed: " + explanation, isError: true) }
    }
}

extension AppModel {
    /// The spans the header counts: those in the tree, plus what the API reported for the runs of other processes
    /// whose spans are not loaded yet (a folded remote run counts its spans without opening it).
    public var headerSpanCounts: (total: Int, byStatus: [DisplayStatus: Int]) {
        var total = tree.spanCount
        var byStatus = tree.spanStatusCounts
        for id in tree.remoteInstances where !tree.loadedRemoteInstances.contains(id) {
            guard let counts = tree.remoteSpanCounts[id] else { continue }
            total += counts.total
            byStatus[.pending, default: 0] += counts.pending
            byStatus[.active, default: 0] += counts.active
            byStatus[.complete, default: 0] += counts.complete
            byStatus[.failed, default: 0] += counts.failed
            byStatus[.cancelled, default: 0] += counts.cancelled
        }
        return (total, byStatus)
    }
}

extension AppModel {
    /// Counts of the unsettled operations the UI lists: waiting (pending or blocked), in flight, retrying.
    public var listedQueueCounts: (waiting: Int, inFlight: Int, retrying: Int) {
        var counts = (waiting: 0, inFlight: 0, retrying: 0)
        for operation in operations.values {
            switch operation.state {
            case .pending, .blocked: counts.waiting += 1
            case .inFlight: counts.inFlight += 1
            case .retrying: counts.retrying += 1
            }
        }
        return counts
    }
}
