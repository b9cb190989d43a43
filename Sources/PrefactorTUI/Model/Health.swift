import Foundation
import PrefactorCore
import PrefactorHTTP

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
