import Foundation
import PrefactorCore
import PrefactorWire

/// Where each part of the screen goes for a terminal size.
public struct Geometry: Hashable, Sendable {
    /// The smallest usable terminal.
    public static let minimumWidth = 60
    /// The smallest usable terminal.
    public static let minimumHeight = 14

    public var width: Int
    public var height: Int
    /// Rows of the tree and detail panes (between the header and the queue strip).
    public var bodyTop: Int
    public var bodyHeight: Int
    /// Columns of the tree; the detail pane starts after a separator.
    public var treeWidth: Int
    public var detailLeft: Int
    public var detailWidth: Int
    /// The queue strip.
    public var queueTop: Int
    public var queueHeight: Int

    /// Whether the terminal is large enough.
    public var fits: Bool { width >= Self.minimumWidth && height >= Self.minimumHeight }

    /// Lays the screen out: header, tree | detail, queue strip, hint line.
    public init(width: Int, height: Int, queueFocused: Bool) {
        self.width = width
        self.height = height
        queueHeight = queueFocused ? max(3, height / 3) : 2
        bodyTop = 1
        queueTop = max(1, height - 1 - queueHeight)
        bodyHeight = max(0, queueTop - bodyTop)
        treeWidth = width >= 100 ? width * 55 / 100 : width * 58 / 100
        detailLeft = treeWidth + 1
        detailWidth = max(0, width - detailLeft)
    }
}

/// Draws an ``AppModel`` into a ``CellBuffer``. Pure: the same model, size and theme give the same frame, and only
/// the visible rows of the tree are laid out.
public struct Layout {
    public let model: AppModel
    public let theme: Theme

    /// Creates a layout.
    public init(model: AppModel, theme: Theme) {
        self.model = model
        self.theme = theme
    }

    /// One frame.
    public func render() -> CellBuffer {
        var buffer = CellBuffer(width: model.width, height: model.height)
        let geometry = Geometry(width: model.width, height: model.height, queueFocused: model.focus == .queue)
        guard geometry.fits else {
            let text = "Terminal too small: \(model.width)x\(model.height), need \(Geometry.minimumWidth)x\(Geometry.minimumHeight)"
            buffer.write(TextWidth.truncate(text, to: model.width), row: 0, column: 0, style: theme.warning)
            return buffer
        }
        drawHeader(&buffer, geometry)
        drawTree(&buffer, geometry)
        for row in geometry.bodyTop..<(geometry.bodyTop + geometry.bodyHeight) {
            buffer.write(theme.separator, row: row, column: geometry.treeWidth, style: theme.dim)
        }
        drawDetail(&buffer, geometry)
        drawQueue(&buffer, geometry)
        drawHints(&buffer, geometry)
        if model.showHelp { drawHelp(&buffer, geometry) }
        return buffer
    }

    // MARK: Header

    func drawHeader(_ buffer: inout CellBuffer, _ geometry: Geometry) {
        buffer.fill(row: 0, from: 0, to: geometry.width, style: .plain)
        var x = buffer.write("prefactor", row: 0, column: 0, style: theme.accent)
        x = buffer.write("  " + model.apiURL, row: 0, column: x, style: theme.dim, maxColumns: 40)
        let (healthText, healthStyle): (String, CellStyle)
        switch model.health {
        case .ok: (healthText, healthStyle) = ("ok", theme.good)
        case .retrying: (healthText, healthStyle) = ("retrying", theme.warning)
        case .unreachable: (healthText, healthStyle) = ("down", theme.error)
        case .authFailed: (healthText, healthStyle) = ("auth failed", theme.error)
        }
        x = buffer.write(" ", row: 0, column: x)
        x = buffer.write("[" + healthText + "]", row: 0, column: x, style: healthStyle)
        let counts = model.statusCounts
        x = buffer.write("  \(model.tree.instanceOrder.count) runs", row: 0, column: x)
        for status in [DisplayStatus.active, .complete, .failed, .cancelled] {
            let count = (counts.spans[status] ?? 0)
            guard count > 0 || status == .active else { continue }
            x = buffer.write(" ", row: 0, column: x)
            x = buffer.write(theme.glyph(status), row: 0, column: x, style: theme.style(status))
            x = buffer.write("\(count)", row: 0, column: x)
        }
        var right: [(String, CellStyle)] = []
        if let demo = model.demo { right.append(("demo " + (demo == .running ? "running" : "paused"), demo == .running ? theme.good : theme.warning)) }
        if model.follow { right.append(("follow", theme.accent)) }
        if model.errorsOnly { right.append(("errors only", theme.error)) }
        if model.readonly { right.append(("read-only", theme.warning)) }
        let rightText = right.map(\.0).joined(separator: " · ")
        let rightWidth = TextWidth.columns(of: rightText)
        if rightWidth > 0, x + rightWidth + 2 <= geometry.width {
            var column = geometry.width - rightWidth
            for (index, part) in right.enumerated() {
                if index > 0 { column = buffer.write(" · ", row: 0, column: column, style: theme.dim) }
                column = buffer.write(part.0, row: 0, column: column, style: part.1)
            }
        }
    }

    // MARK: Tree

    func drawTree(_ buffer: inout CellBuffer, _ geometry: Geometry) {
        let rows = model.rows
        // When the tree overflows, its last line shows the position instead of a row.
        let visible = rows.count > geometry.bodyHeight ? max(1, geometry.bodyHeight - 1) : geometry.bodyHeight
        if rows.isEmpty {
            let text = model.filter.isEmpty && !model.errorsOnly
                ? "No agent runs yet. Press n to start one." : "Nothing matches the filter. Esc clears it."
            buffer.write(TextWidth.truncate(text, to: geometry.treeWidth - 2), row: geometry.bodyTop, column: 1, style: theme.dim)
            return
        }
        let start = min(model.scroll, max(0, rows.count - visible))
        let end = min(rows.count, start + visible)
        for (offset, index) in (start..<end).enumerated() {
            let row = geometry.bodyTop + offset
            drawTreeRow(&buffer, rows[index], row: row, width: geometry.treeWidth)
        }
        if rows.count > visible {
            let position = "\(start + 1)-\(end)/\(rows.count)"
            buffer.write(position, row: geometry.bodyTop + visible, column: max(0, geometry.treeWidth - TextWidth.columns(of: position)), style: theme.dim)
        }
    }

    func drawTreeRow(_ buffer: inout CellBuffer, _ row: VisibleRow, row y: Int, width: Int) {
        let selected = row.node == model.selection
        let node = row.node
        let hasChildren = model.tree.children[node]?.isEmpty == false
        let collapsed = model.collapsed.contains(node)
        let indent = String(repeating: "  ", count: min(row.depth, 12))
        let marker = hasChildren ? (collapsed ? theme.collapsedMarker : theme.expandedMarker) : " "
        guard let status = model.tree.status(of: node) else { return }
        var x = buffer.write(indent + marker + " ", row: y, column: 0, style: theme.dim, maxColumns: width)
        x = buffer.write(theme.glyph(status), row: y, column: x, style: theme.style(status), maxColumns: width - x)
        x = buffer.write(" ", row: y, column: x)

        let (name, summary, started, finished) = describe(node)
        let barWidth = width >= 50 ? 10 : 0
        let durationText = duration(from: started, to: finished)
        var rollUpText = ""
        if collapsed && hasChildren {
            let rollUp = model.tree.rollUp(node)
            rollUpText = " [\(rollUp.spans)" + (rollUp.running > 0 ? " \(theme.glyph(.active))\(rollUp.running)" : "")
                + (rollUp.failed > 0 ? " \(theme.glyph(.failed))\(rollUp.failed)" : "") + "]"
        }
        let rightWidth = TextWidth.columns(of: durationText) + (barWidth > 0 ? barWidth + 1 : 0) + 1
        let room = max(0, width - x - rightWidth)
        let nameStyle = node.isInstance ? CellStyle(bold: true) : CellStyle.plain
        x = buffer.write(name, row: y, column: x, style: nameStyle, maxColumns: room)
        // The roll-up before the summary, so that a long summary never hides it.
        if !rollUpText.isEmpty { x = buffer.write(rollUpText, row: y, column: x, style: theme.dim, maxColumns: max(0, width - rightWidth - x)) }
        if !summary.isEmpty, room > 2 { x = buffer.write(" " + summary, row: y, column: x, style: theme.dim, maxColumns: max(0, width - rightWidth - x)) }
        let wanted = TextWidth.columns(of: name) + TextWidth.columns(of: rollUpText) + (summary.isEmpty ? 0 : 1 + TextWidth.columns(of: summary))
        if wanted > room, x >= width - rightWidth - 1 {
            // Truncated: mark it (also when a wide character left the last column empty); on the second half of a
            // wide character, the mark replaces that character.
            var column = max(0, width - rightWidth - 1)
            if column > 0, buffer[y, column].text.isEmpty { column -= 1 }
            buffer.write("…", row: y, column: column, style: theme.dim)
        }
        var right = width - rightWidth + 1
        right = buffer.write(durationText, row: y, column: right, style: status == .active ? theme.style(.active) : theme.dim)
        if barWidth > 0 { drawBar(&buffer, node: node, started: started, finished: finished, row: y, column: right + 1, width: barWidth) }
        if selected {
            buffer.restyle(row: y, from: 0, to: width) { $0.reverse = true }
        }
    }

    func describe(_ node: NodeID) -> (String, String, Date?, Date?) {
        switch node {
        case .instance(let id):
            guard let instance = model.tree.instances[id]?.instance else { return (id, "", nil, nil) }
            var summary = ""
            if let reason = instance.terminationReason { summary = "terminated: " + reason }
            return ("run " + shortID(id), summary, instance.startedAt ?? instance.registeredAt, instance.finishedAt)
        case .span(let id):
            guard let span = model.tree.spans[id]?.span else { return (id, "", nil, nil) }
            return (span.schemaName, Self.summary(of: span.payload), span.startedAt, span.finishedAt ?? (span.phase.isFinished ? span.startedAt : nil))
        }
    }

    /// One or two telling payload fields: model, tool, query.
    static func summary(of payload: [String: JSONValue]) -> String {
        for key in ["model", "tool", "name", "query", "prompt", "input", "url", "step"] {
            guard let value = payload[key] else { continue }
            switch value {
            case .string(let text): return text.replacingOccurrences(of: "\n", with: " ")
            case .int, .double, .bool: return "\(key)=\(value.description)"
            default: continue
            }
        }
        return ""
    }

    func shortID(_ id: String) -> String {
        id.count > 14 ? String(id.prefix(6)) + "…" + String(id.suffix(6)) : id
    }

    func duration(from start: Date?, to end: Date?) -> String {
        guard let start else { return "" }
        let seconds = max(0, (end ?? model.now).timeIntervalSince(start))
        if seconds < 1 { return String(format: "%3dms", Int(seconds * 1000)) }
        if seconds < 60 { return String(format: "%4.1fs", seconds) }
        if seconds < 3600 { return String(format: "%2dm%02ds", Int(seconds) / 60, Int(seconds) % 60) }
        return String(format: "%dh%02dm", Int(seconds) / 3600, Int(seconds) % 3600 / 60)
    }

    /// The mini timeline: where in its instance's time span the node ran.
    func drawBar(_ buffer: inout CellBuffer, node: NodeID, started: Date?, finished: Date?, row: Int, column: Int, width: Int) {
        guard let instanceID = model.tree.instanceID(of: node), let instance = model.tree.instances[instanceID]?.instance,
            let started
        else { return }
        let origin = instance.startedAt ?? instance.registeredAt
        let end = instance.finishedAt ?? model.now
        let total = max(0.001, end.timeIntervalSince(origin))
        let from = max(0, min(width - 1, Int((started.timeIntervalSince(origin) / total) * Double(width))))
        let to = max(from + 1, min(width, Int(ceil(((finished ?? model.now).timeIntervalSince(origin) / total) * Double(width)))))
        let status = model.tree.status(of: node) ?? .pending
        for offset in 0..<width {
            let filled = offset >= from && offset < to
            buffer.write(
                filled ? theme.barCells.filled : theme.barCells.empty, row: row, column: column + offset,
                style: filled ? theme.style(status) : theme.dim)
        }
    }

    // MARK: Detail

    func detailLines() -> [(String, CellStyle)] {
        guard let selection = model.selection else { return [("Select a run or a span.", theme.dim)] }
        var lines: [(String, CellStyle)] = []
        let iso: (Date?) -> String = { $0.map { WireDate.format($0, style: .zulu) } ?? "—" }
        switch selection {
        case .instance(let id):
            guard let node = model.tree.instances[id] else { return [] }
            let instance = node.instance
            lines.append(("Run " + id, theme.accent))
            lines.append(("status   " + theme.glyph(node.status) + " " + node.status.rawValue, theme.style(node.status)))
            if let agent = instance.agentID { lines.append(("agent    " + agent, .plain)) }
            lines.append(("started  " + iso(instance.startedAt), .plain))
            lines.append(("finished " + iso(instance.finishedAt), .plain))
            if let reason = instance.terminationReason { lines.append(("reason   " + reason, theme.style(.terminated))) }
            let rollUp = model.tree.rollUp(selection)
            lines.append(("spans    \(rollUp.spans) (\(rollUp.running) running, \(rollUp.failed) failed)", .plain))
            appendHistory(node.history, into: &lines)
            if !instance.quality.isEmpty {
                lines.append(("quality", theme.accent))
                for line in JSONValue.object(instance.quality).prettyPrinted.split(separator: "\n") { lines.append(("  " + line, .plain)) }
            }
        case .span(let id):
            guard let node = model.tree.spans[id] else { return [] }
            let span = node.span
            lines.append((span.schemaName, theme.accent))
            lines.append(("status   " + theme.glyph(node.status) + " " + node.status.rawValue, theme.style(node.status)))
            lines.append(("id       " + span.id, .plain))
            lines.append(("api id   " + (span.apiID ?? "— (not delivered yet)"), span.apiID == nil ? theme.dim : .plain))
            lines.append(("parent   " + (span.parentID ?? "—"), .plain))
            lines.append(("run      " + span.instanceID, .plain))
            lines.append(("started  " + iso(span.startedAt), .plain))
            lines.append(("finished " + iso(span.finishedAt), .plain))
            if let error = span.deliveryError { lines.append(("delivery failed: " + error, theme.error)) }
            appendHistory(node.history, into: &lines)
            lines.append(("payload", theme.accent))
            for line in JSONValue.object(span.payload).prettyPrinted.split(separator: "\n") { lines.append(("  " + line, .plain)) }
            if let result = span.resultPayload {
                lines.append(("result", theme.accent))
                for line in JSONValue.object(result).prettyPrinted.split(separator: "\n") { lines.append(("  " + line, .plain)) }
            }
        }
        let operations = model.operations(for: selection)
        if !operations.isEmpty {
            lines.append(("queued operations", theme.accent))
            for operation in operations { lines.append(("  " + describe(operation), style(for: operation.state))) }
        }
        return lines
    }

    func appendHistory(_ history: [(status: DisplayStatus, at: Date)], into lines: inout [(String, CellStyle)]) {
        lines.append(("history", theme.accent))
        for entry in history {
            lines.append(("  " + WireDate.format(entry.at, style: .zulu) + " " + theme.glyph(entry.status) + " " + entry.status.rawValue, theme.style(entry.status)))
        }
    }

    func drawDetail(_ buffer: inout CellBuffer, _ geometry: Geometry) {
        let lines = detailLines()
        let scroll = min(model.detailScroll, max(0, lines.count - geometry.bodyHeight))
        for (offset, line) in lines.dropFirst(scroll).prefix(geometry.bodyHeight).enumerated() {
            buffer.write(
                TextWidth.truncate(line.0, to: geometry.detailWidth - 1), row: geometry.bodyTop + offset, column: geometry.detailLeft + 1,
                style: line.1)
        }
        if model.focus == .detail {
            buffer.write("detail", row: geometry.bodyTop, column: geometry.width - 6, style: theme.accent)
        }
    }

    // MARK: Queue

    func describe(_ operation: OperationSnapshot) -> String {
        let op = operation.operation
        var text = "#\(op.id) \(op.kind.rawValue)"
        if case .createSpan(_, _, let schema, _, _, _) = op.body { text += " " + schema }
        switch operation.state {
        case .blocked: text += "  blocked"
        case .pending: text += "  pending"
        case .inFlight(let attempt): text += "  in flight" + (attempt > 1 ? " (attempt \(attempt))" : "")
        case .retrying(let attempt, let next, let error):
            text += "  retrying #\(attempt + 1) in \(max(0, Int(next.timeIntervalSince(model.now).rounded(.up))))s: \(error)"
        }
        return text
    }

    func style(for state: OperationState) -> CellStyle {
        switch state {
        case .blocked, .pending: return theme.dim
        case .inFlight: return theme.style(.active)
        case .retrying: return theme.warning
        }
    }

    func drawQueue(_ buffer: inout CellBuffer, _ geometry: Geometry) {
        let row = geometry.queueTop
        buffer.fill(row: row, from: 0, to: geometry.width, style: .plain)
        let queue = model.queue
        var x = buffer.write("queue", row: row, column: 0, style: model.focus == .queue ? CellStyle(bold: true, reverse: true) : theme.accent)
        x = buffer.write(" pending \(queue.pending + queue.blocked)", row: row, column: x)
        x = buffer.write(" in flight \(queue.inFlight)", row: row, column: x, style: queue.inFlight > 0 ? theme.style(.active) : .plain)
        var retryText = " retrying \(queue.retrying)"
        if let next = model.operations.values.compactMap({ snapshot -> Date? in
            if case .retrying(_, let at, _) = snapshot.state { return at }
            return nil
        }).min() {
            retryText += " (next in \(max(0, Int(next.timeIntervalSince(model.now).rounded(.up))))s)"
        }
        x = buffer.write(retryText, row: row, column: x, style: queue.retrying > 0 ? theme.warning : .plain)
        x = buffer.write(" failed \(queue.failed)", row: row, column: x, style: queue.failed > 0 ? theme.error : .plain)
        x = buffer.write(" delivered \(queue.delivered)", row: row, column: x, style: theme.good)
        let recent = Array(model.throughput.suffix(12))
        if !recent.isEmpty, x + 16 < geometry.width {
            let peak = max(1, recent.max() ?? 1)
            let levels = theme.sparkLevels
            x = buffer.write(" ", row: row, column: x)
            for value in recent {
                x = buffer.write(levels[min(levels.count - 1, value * (levels.count - 1) / peak)], row: row, column: x, style: theme.style(.active))
            }
            x = buffer.write(" \(recent.last ?? 0)/s", row: row, column: x)
        }
        if let oldest = queue.oldestEnqueuedAt, x + 12 < geometry.width {
            buffer.write(" oldest " + duration(from: oldest, to: nil).trimmingCharacters(in: .whitespaces), row: row, column: x, style: theme.dim)
        }
        // The second line (or the expanded list): operations, retrying ones first.
        let operations = model.operations.values.sorted { lhs, rhs in
            let l = Self.rank(lhs.state), r = Self.rank(rhs.state)
            return l != r ? l < r : lhs.id < rhs.id
        }
        let listRows = geometry.queueHeight - 1
        if operations.isEmpty {
            let text = model.failures.last.map { "last failure: #\($0.operation.id) \($0.operation.kind.rawValue): \($0.reason)" }
                ?? (model.quitting ? "queue drained" : "nothing queued")
            buffer.write(TextWidth.truncate(text, to: geometry.width - 2), row: row + 1, column: 1, style: model.failures.isEmpty ? theme.dim : theme.error)
            return
        }
        let scroll = model.focus == .queue ? min(model.queueScroll, max(0, operations.count - listRows)) : 0
        for (offset, operation) in operations.dropFirst(scroll).prefix(listRows).enumerated() {
            buffer.write(TextWidth.truncate(describe(operation), to: geometry.width - 2), row: row + 1 + offset, column: 1, style: style(for: operation.state))
        }
    }

    static func rank(_ state: OperationState) -> Int {
        switch state {
        case .retrying: return 0
        case .inFlight: return 1
        case .pending: return 2
        case .blocked: return 3
        }
    }

    // MARK: Hints and overlays

    func drawHints(_ buffer: inout CellBuffer, _ geometry: Geometry) {
        let row = geometry.height - 1
        buffer.fill(row: row, from: 0, to: geometry.width, style: .plain)
        if let prompt = model.prompt {
            let x = buffer.write(prompt.label + ": ", row: row, column: 0, style: theme.accent)
            buffer.write(prompt.text + "▏  Enter adds, Esc cancels", row: row, column: x, maxColumns: geometry.width - x)
            return
        }
        if let confirmation = model.confirmation {
            buffer.write(TextWidth.truncate(confirmation.question, to: geometry.width), row: row, column: 0, style: theme.warning)
            return
        }
        if model.filterEditing || !model.filter.isEmpty {
            let x = buffer.write("/", row: row, column: 0, style: theme.accent)
            let suffix = model.filterEditing ? "▏  Enter keeps, Esc clears" : "  (Esc clears)"
            buffer.write(model.filter + suffix, row: row, column: x, maxColumns: geometry.width - x)
            return
        }
        if model.quitting {
            buffer.write(
                TextWidth.truncate("Quitting: delivering \(model.queue.depth) queued operation(s)… q again quits now", to: geometry.width),
                row: row, column: 0, style: theme.warning)
            return
        }
        if let message = model.message {
            buffer.write(TextWidth.truncate(message.text, to: geometry.width), row: row, column: 0, style: message.isError ? theme.error : theme.good)
            return
        }
        let hints: [(String, String)]
        switch model.focus {
        case .tree:
            hints = model.readonly
                ? [("↑↓", "move"), ("←→", "fold"), ("/", "filter"), ("e", "errors"), ("F", "follow"), ("Tab", "pane"), ("?", "help"), ("q", "quit")]
                : [("n", "new run"), ("a", "add span"), ("s", "start"), ("f", "finish"), ("x", "fail"), ("c", "cancel"),
                    ("T", "terminate"), ("/", "filter"), ("?", "help"), ("q", "quit")]
        case .detail, .queue:
            hints = [("↑↓", "scroll"), ("Tab", "next pane"), ("?", "help"), ("q", "quit")]
        }
        // The last two hints (help and quit) always show; the others as room allows.
        func hintWidth(_ hint: (String, String)) -> Int { TextWidth.columns(of: hint.0) + TextWidth.columns(of: hint.1) + 2 }
        let tail = hints.suffix(2)
        let tailWidth = tail.reduce(0) { $0 + hintWidth($1) }
        var x = 0
        var skipping = false
        for (index, hint) in hints.enumerated() {
            let reserve = index < hints.count - 2 ? tailWidth : 0
            if index < hints.count - 2, skipping || x + hintWidth(hint) + reserve > geometry.width {
                skipping = true
                continue
            }
            guard x + hintWidth(hint) <= geometry.width else { break }
            x = buffer.write(hint.0, row: row, column: x, style: theme.accent)
            x = buffer.write(" " + hint.1 + " ", row: row, column: x, style: theme.dim)
        }
    }

    /// Every key, for the `?` overlay.
    public static let helpLines: [(String, String)] = [
        ("↑ ↓  k j", "move"), ("PgUp PgDn  g G", "page, top, bottom"), ("← →  h l  Space", "collapse, expand, toggle"),
        ("-  =", "collapse all, expand all"), ("Tab", "focus: tree, detail, queue"), ("/", "filter (Esc clears)"),
        ("e", "errors only"), ("F", "follow the newest activity"), ("n", "new agent run"), ("a", "add a span under the selection"),
        ("s", "start the selected prepared span"), ("f", "finish as complete"), ("x", "fail (asks y/n)"),
        ("c", "cancel (asks y/n)"), ("T", "terminate the run on the server (asks y/n)"), ("p", "pause or resume the demo"),
        ("?", "this help"), ("q", "quit (drains the queue; q again quits now)"),
    ]

    func drawHelp(_ buffer: inout CellBuffer, _ geometry: Geometry) {
        let lines = Self.helpLines
        let boxWidth = min(geometry.width - 4, 64)
        let boxHeight = min(geometry.height - 2, lines.count + 3)
        let left = (geometry.width - boxWidth) / 2
        let top = max(1, (geometry.height - boxHeight) / 2)
        for row in top..<(top + boxHeight) { buffer.fill(row: row, from: left, to: left + boxWidth, style: .plain) }
        buffer.write(" Keys ", row: top, column: left + 2, style: theme.accent)
        for (offset, line) in lines.prefix(boxHeight - 3).enumerated() {
            let x = buffer.write(TextWidth.pad(line.0, to: 18), row: top + 1 + offset, column: left + 2, style: theme.accent)
            buffer.write(TextWidth.truncate(line.1, to: left + boxWidth - x - 1), row: top + 1 + offset, column: x)
        }
        buffer.write("any key closes", row: top + boxHeight - 1, column: left + 2, style: theme.dim)
    }
}

extension NodeID {
    var isInstance: Bool {
        if case .instance = self { return true }
        return false
    }
}
