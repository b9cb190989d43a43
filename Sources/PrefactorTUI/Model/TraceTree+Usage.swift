import Foundation
import PrefactorCore
import PrefactorWire

/// One span's token usage and the model it names.
public struct SpanUsage: Sendable, Hashable {
    /// The tokens.
    public var usage: TokenUsage
    /// The model, when the span names one.
    public var model: String?
    /// The span's instance (whose totals it counts in).
    public var instanceID: String
}

extension TraceTree {
    /// Brings the usage of a span, and the totals of its instance and of the tree, up to date: the totals are kept as
    /// spans change so that no frame adds up every span.
    mutating func noteUsage(of span: SpanSnapshot) {
        let found = TokenUsage.of(payload: span.payload, result: span.resultPayload).map {
            SpanUsage(
                usage: $0, model: ModelName.of(payload: span.payload, result: span.resultPayload), instanceID: span.instanceID)
        }
        guard found != spanUsage[span.id] else { return }
        forgetUsage(of: span.id)
        guard let found else { return }
        spanUsage[span.id] = found
        instanceUsage[span.instanceID, default: UsageTotals()].add(found.usage, model: found.model)
        totalUsage.add(found.usage, model: found.model)
    }

    /// Takes a span's usage out of the totals (it changed, or the span left the tree).
    mutating func forgetUsage(of id: String) {
        guard let old = spanUsage.removeValue(forKey: id) else { return }
        instanceUsage[old.instanceID]?.add(old.usage, model: old.model, sign: -1)
        if instanceUsage[old.instanceID]?.isEmpty == true { instanceUsage[old.instanceID] = nil }
        totalUsage.add(old.usage, model: old.model, sign: -1)
    }
}
