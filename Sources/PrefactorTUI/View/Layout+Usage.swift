import Foundation
import PrefactorCore
import PrefactorWire

extension Layout {
    /// A run of this process by its agent: the name, and the version when it says more than the name
    /// (`support-bot 1.4.0` for `support-bot` / `support-bot-1.4.0`).
    public static func agentLabel(_ instance: InstanceSnapshot) -> String? {
        guard let name = instance.agentName, !name.isEmpty else { return nil }
        guard var version = instance.agentVersion, !version.isEmpty, version != name else { return name }
        if version.hasPrefix(name + "-") { version.removeFirst(name.count + 1) }
        return name + " " + version
    }

    /// A span's row summary: a telling payload field (the model first), and the tokens it used.
    func spanSummary(_ span: SpanSnapshot) -> String {
        var summary = Self.summary(of: span.payload)
        if summary.isEmpty, let model = model.tree.spanUsage[span.id]?.model { summary = model }
        if let usage = model.tree.spanUsage[span.id]?.usage {
            summary += (summary.isEmpty ? "" : " ") + TokenUsage.short(usage.total) + " tok"
        }
        return summary
    }

    /// A run's tokens and cost for its row: `Σ12.3k tok $0.04`; `nil` when none of its spans recorded any.
    func usageSummary(instanceID: String) -> String? {
        guard let totals = model.tree.instanceUsage[instanceID], !totals.isEmpty else { return nil }
        var text = "Σ" + TokenUsage.short(totals.total) + " tok"
        if let cost = totals.cost(model.pricing) { text += " " + TokenUsage.dollars(cost.dollars) }
        return text
    }

    /// The header's tokens and cost over every run, when any span recorded usage.
    func usageSegments() -> [(String, CellStyle)] {
        let totals = model.tree.totalUsage
        guard !totals.isEmpty else { return [] }
        var text = "  Σ" + TokenUsage.short(totals.total) + " tok"
        if let cost = totals.cost(model.pricing) { text += " " + TokenUsage.dollars(cost.dollars) }
        return [(text, theme.accent)]
    }

    /// What the header says about the view: frozen (with what waits), the sort and the status filter.
    func viewSegments() -> [(String, CellStyle)] {
        var segments: [(String, CellStyle)] = []
        if let frozen = model.frozen { segments.append(("frozen, \(frozen.waiting) waiting", theme.warning)) }
        if model.sort != .start { segments.append(("by " + model.sort.label, theme.accent)) }
        if model.statusFilter != .all { segments.append((model.statusFilter.rawValue + " only", theme.accent)) }
        return segments
    }

    /// While frozen, the hint line starts by saying so (the header's right side may have no room for it).
    ///
    /// - Returns: The column after it.
    func frozenHint(_ buffer: inout CellBuffer, row: Int) -> Int {
        guard let frozen = model.frozen else { return 0 }
        return buffer.write("FROZEN \(frozen.waiting) waiting ", row: row, column: 0, style: CellStyle(bold: true, reverse: true))
            + 1
    }

    /// One span's usage as totals (for ``usageLines(_:_:model:)``).
    func spanTotals(_ id: String) -> UsageTotals? {
        guard let found = model.tree.spanUsage[id] else { return nil }
        var totals = UsageTotals()
        totals.add(found.usage, model: found.model)
        return totals
    }

    /// The detail pane's lines for tokens: input, output and total, the model, the cost when priced (and the tokens
    /// without a price).
    func usageLines(_ text: inout DetailText, _ totals: UsageTotals?, model name: String?) {
        guard let totals, !totals.isEmpty else { return }
        var parts: [String] = []
        if totals.input > 0 { parts.append("in \(totals.input)") }
        if totals.output > 0 { parts.append("out \(totals.output)") }
        parts.append("total \(totals.total)")
        if name == nil, totals.calls > 1 { parts.append("in \(totals.calls) calls") }
        text.field("tokens", parts.joined(separator: " · "), words: true)
        if let name { text.field("model", name) }
        guard let cost = totals.cost(model.pricing) else { return }
        var line = TokenUsage.dollars(cost.dollars)
        if cost.unpriced > 0 { line += " (\(cost.unpriced) tokens without a price)" }
        text.field("cost", line, words: true)
    }
}
