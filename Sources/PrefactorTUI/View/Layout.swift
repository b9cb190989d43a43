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
    ///
    /// - Parameters:
    ///   - width: Terminal columns.
    ///   - height: Terminal rows.
    ///   - queueFocused: Whether the queue has the focus: its list then takes a third of the screen.
    ///   - apiFailing: Whether the API is failing (the backlog grows): the queue list then gets more rows.
    public init(width: Int, height: Int, queueFocused: Bool, apiFailing: Bool = false) {
        self.width = width
        self.height = height
        queueHeight = 1 + Self.queueListRows(height: height, focused: queueFocused, apiFailing: apiFailing)
        bodyTop = 1
        queueTop = max(1, height - 1 - queueHeight)
        bodyHeight = max(0, queueTop - bodyTop)
        treeWidth = width >= 100 ? width * 55 / 100 : width * 58 / 100
        detailLeft = treeWidth + 1
        detailWidth = max(0, width - detailLeft)
    }

    /// The layout of a model's screen: its size, the focus, and whether the API is failing.
    public init(for model: AppModel) {
        self.init(
            width: model.width, height: model.height, queueFocused: model.focus == .queue,
            apiFailing: model.shownHealth.level != .ok)
    }

    /// Rows of the queue list below the counts line. Larger terminals get more of it; while the API fails it grows
    /// so the backlog shows without Tab; with the focus it takes a third of the screen.
    static func queueListRows(height: Int, focused: Bool, apiFailing: Bool) -> Int {
        let base = height < 32 ? 1 : min(6, (height - 16) / 8)
        let unfocused = apiFailing ? max(base, min(8, height / 8)) : base
        return focused ? max(unfocused, max(3, height / 3) - 1) : unfocused
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

    /// One frame. With an ASCII theme every cell is ASCII, whatever the text drawn (payloads included).
    public func render() -> CellBuffer {
        var buffer = draw()
        if !theme.unicode { buffer.makeASCII() }
        return buffer
    }

    /// The lines of the too-small message at a width: the size needed first, then what to do, in whole phrases.
    static func tooSmallLines(width: Int, height: Int) -> [String] {
        let phrases = [
            "Need \(Geometry.minimumWidth)x\(Geometry.minimumHeight)", "(now \(width)x\(height)):", "terminal too small;",
            "enlarge it", "or press q to quit",
        ]
        var lines: [String] = []
        for phrase in phrases {
            if let last = lines.last, TextWidth.columns(of: last) + 1 + TextWidth.columns(of: phrase) <= width {
                lines[lines.count - 1] = last + " " + phrase
            } else {
                lines.append(phrase)
            }
        }
        return lines
    }

    private func draw() -> CellBuffer {
        var buffer = CellBuffer(width: model.width, height: model.height)
        let geometry = Geometry(for: model)
        guard geometry.fits else {
            for (row, line) in Self.tooSmallLines(width: model.width, height: model.height).prefix(model.height).enumerated() {
                buffer.write(TextWidth.truncate(line, to: model.width), row: row, column: 0, style: theme.warning)
            }
            return buffer
        }
        drawHeader(&buffer, geometry)
        if model.timeline != nil {
            drawTimeline(&buffer, geometry)
        } else {
            drawTree(&buffer, geometry)
            for row in geometry.bodyTop..<(geometry.bodyTop + geometry.bodyHeight) {
                buffer.write(theme.separator, row: row, column: geometry.treeWidth, style: theme.dim)
            }
            drawDetail(&buffer, geometry)
        }
        drawQueue(&buffer, geometry)
        drawHints(&buffer, geometry)
        if model.showHelp { drawHelp(&buffer, geometry) }
        return buffer
    }

    // MARK: Header

    func drawHeader(_ buffer: inout CellBuffer, _ geometry: Geometry) {
        buffer.fill(row: 0, from: 0, to: geometry.width, style: .plain)
        let shown = model.shownHealth
        let healthText = shown.label
        let healthStyle: CellStyle
        switch shown.level {
        case .ok: healthStyle = theme.good
        case .warning: healthStyle = theme.warning
        case .error: healthStyle = theme.error
        }
        let counts = model.statusCounts
        let middle =
            [(" ", CellStyle.plain), ("[" + healthText + "]", healthStyle)]
            + countSegments(model.tree.instanceOrder.count, noun: "run", byStatus: counts.instances)
            + countSegments(model.headerSpanCounts.total, noun: "span", byStatus: model.headerSpanCounts.byStatus)
            + usageSegments()
        var right: [(String, CellStyle)] = viewSegments()
        if let remote = model.remote { right.append(remoteFreshness(remote)) }
        if let demo = model.demo {
            right.append(("demo " + (demo == .running ? "running" : "paused"), demo == .running ? theme.good : theme.warning))
        }
        if model.follow { right.append(("follow", theme.accent)) }
        if model.errorsOnly { right.append(("errors only", theme.error)) }
        if model.readonly { right.append(("read-only", theme.warning)) }
        let rightText = right.map(\.0).joined(separator: " · ")
        let rightWidth = TextWidth.columns(of: rightText)
        // The endpoint gets the room the rest leaves: in full, without its scheme, cut short, or not at all.
        let title = "prefactor"
        let room =
            geometry.width - TextWidth.columns(of: title) - 2 - middle.reduce(0) { $0 + TextWidth.columns(of: $1.0) }
            - (rightWidth > 0 ? rightWidth + 2 : 0)
        var x = buffer.write(title, row: 0, column: 0, style: theme.accent)
        if let endpoint = Self.endpoint(model.apiURL, fitting: min(38, room)) {
            x = buffer.write("  " + endpoint, row: 0, column: x, style: theme.dim)
        }
        for (text, style) in middle { x = buffer.write(text, row: 0, column: x, style: style) }
        if rightWidth > 0, x + rightWidth + 2 <= geometry.width {
            var column = geometry.width - rightWidth
            for (index, part) in right.enumerated() {
                if index > 0 { column = buffer.write(" · ", row: 0, column: column, style: theme.dim) }
                column = buffer.write(part.0, row: 0, column: column, style: part.1)
            }
        }
    }

    /// Marks a span the API does not have as shown, because one of its operations failed for good.
    static let syncFailedLabel = "sync failed"

    /// The order of statuses in the header's counts: what runs first, then what waits, then how things ended.
    static let headerStatusOrder: [DisplayStatus] = [
        .active, .pending, .prepared, .complete, .failed, .cancelled, .terminated, .gone,
    ]

    /// A total with its noun (singular or plural), then the count of each status that has any.
    func countSegments(_ total: Int, noun: String, byStatus: [DisplayStatus: Int]) -> [(String, CellStyle)] {
        var segments = [("  \(total) \(noun)\(total == 1 ? "" : "s")", CellStyle.plain)]
        for status in Self.headerStatusOrder {
            guard let count = byStatus[status], count > 0 else { continue }
            segments += [(" ", .plain), (theme.glyph(status), theme.style(status)), ("\(count)", .plain)]
        }
        return segments
    }

    /// The API endpoint in at most `columns` columns: in full, without its scheme, or cut short; `nil` when there is
    /// too little room for it to say anything.
    static func endpoint(_ url: String, fitting columns: Int) -> String? {
        if TextWidth.columns(of: url) <= columns { return url }
        var short = Substring(url)
        if let scheme = short.range(of: "://") { short = short[scheme.upperBound...] }
        if TextWidth.columns(of: short) <= columns { return String(short) }
        return columns >= 12 ? TextWidth.truncate(String(short), to: columns) : nil
    }

    /// How fresh the remote view is, or why it is not.
    func remoteFreshness(_ remote: RemoteView) -> (String, CellStyle) {
        if let failure = remote.failure {
            let retry = max(0, Int(failure.retryAt.timeIntervalSince(model.now).rounded(.up)))
            let age = remote.lastSuccess.map { " · last ok " + Self.age(model.now.timeIntervalSince($0)) + " ago" } ?? ""
            return ("watch failing (\(failure.failures)×, retry \(retry)s)" + age, theme.error)
        }
        guard let last = remote.lastSuccess else { return ("watch: first poll…", theme.dim) }
        let age = model.now.timeIntervalSince(last)
        return ("watch " + Self.age(age) + " ago", age > max(10, 3 * remote.interval) ? theme.warning : theme.good)
    }

    static func age(_ seconds: TimeInterval) -> String {
        let seconds = max(0, seconds)
        if seconds < 60 { return "\(Int(seconds))s" }
        if seconds < 3600 { return "\(Int(seconds / 60))m" }
        return "\(Int(seconds / 3600))h"
    }

    // MARK: Tree

    func drawTree(_ buffer: inout CellBuffer, _ geometry: Geometry) {
        let rows = model.rows
        // When the tree overflows, its last line shows the position instead of a row.
        let visible = rows.count > geometry.bodyHeight ? max(1, geometry.bodyHeight - 1) : geometry.bodyHeight
        if rows.isEmpty {
            let text =
                model.filter.isEmpty && !model.errorsOnly
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
            buffer.write(
                position, row: geometry.bodyTop + visible, column: max(0, geometry.treeWidth - TextWidth.columns(of: position)),
                style: theme.dim)
        }
    }

    func drawTreeRow(_ buffer: inout CellBuffer, _ row: VisibleRow, row y: Int, width: Int) {
        let selected = row.node == model.selection
        let node = row.node
        // A remote run whose spans are not loaded yet has the API's span counts instead of children.
        let unloadedCounts = model.needsRemoteSpans(node) ? model.tree.remoteSpanCounts[node.rawID] : nil
        let hasChildren = model.tree.children[node]?.isEmpty == false || (unloadedCounts?.total ?? 0) > 0
        let collapsed = model.collapsed.contains(node) || unloadedCounts != nil
        let indent = String(repeating: "  ", count: min(row.depth, 12))
        let marker = hasChildren ? (collapsed ? theme.collapsedMarker : theme.expandedMarker) : " "
        guard let status = model.tree.status(of: node) else { return }
        // A span the API does not have as shown (an operation failed for good) shows that, not its local status.
        let syncFailed = node.spanID.flatMap { model.tree.spans[$0]?.syncFailed } ?? false
        let shown = syncFailed ? DisplayStatus.failed : status
        var x = buffer.write(indent + marker + " ", row: y, column: 0, style: theme.dim, maxColumns: width)
        x = buffer.write(theme.glyph(shown), row: y, column: x, style: theme.style(shown), maxColumns: width - x)
        x = buffer.write(" ", row: y, column: x)

        let (name, summary, started, finished) = describe(node)
        // The mini bar narrows on narrow trees (80x24 included) rather than disappear.
        let barWidth = width >= 50 ? 10 : width >= 30 ? 6 : 0
        let syncText = syncFailed ? " " + Self.syncFailedLabel : ""
        let durationText = duration(from: started, to: finished)
        var rollUpText = ""
        if let counts = unloadedCounts, counts.total > 0 {
            rollUpText =
                " [\(counts.total)" + (counts.active > 0 ? " \(theme.glyph(.active))\(counts.active)" : "")
                + (counts.failed > 0 ? " \(theme.glyph(.failed))\(counts.failed)" : "") + "]"
        } else if collapsed && hasChildren {
            let rollUp = model.tree.rollUp(node)
            rollUpText =
                " [\(rollUp.spans)" + (rollUp.running > 0 ? " \(theme.glyph(.active))\(rollUp.running)" : "")
                + (rollUp.failed > 0 ? " \(theme.glyph(.failed))\(rollUp.failed)" : "") + "]"
        }
        let rightWidth = TextWidth.columns(of: durationText) + (barWidth > 0 ? barWidth + 1 : 0) + 1
        let room = max(0, width - x - rightWidth)
        let nameStyle = node.isInstance ? CellStyle(bold: true) : CellStyle.plain
        x = buffer.write(name, row: y, column: x, style: nameStyle, maxColumns: room)
        if syncFailed {
            x = buffer.write(syncText, row: y, column: x, style: theme.error, maxColumns: max(0, width - rightWidth - x))
        }
        // The roll-up before the summary, so that a long summary never hides it.
        if !rollUpText.isEmpty {
            x = buffer.write(rollUpText, row: y, column: x, style: theme.dim, maxColumns: max(0, width - rightWidth - x))
        }
        if !summary.isEmpty, room > 2 {
            x = buffer.write(" " + summary, row: y, column: x, style: theme.dim, maxColumns: max(0, width - rightWidth - x))
        }
        let wanted =
            TextWidth.columns(of: name) + TextWidth.columns(of: syncText) + TextWidth.columns(of: rollUpText)
            + (summary.isEmpty ? 0 : 1 + TextWidth.columns(of: summary))
        if wanted > room, x >= width - rightWidth - 1 {
            // Truncated: mark it (also when a wide character left the last column empty); on the second half of a
            // wide character, the mark replaces that character.
            var column = max(0, width - rightWidth - 1)
            if column > 0, buffer[y, column].text.isEmpty { column -= 1 }
            buffer.write("…", row: y, column: column, style: theme.dim)
        }
        var right = width - rightWidth + 1
        right = buffer.write(durationText, row: y, column: right, style: status == .active ? theme.style(.active) : theme.dim)
        if barWidth > 0 {
            drawBar(&buffer, node: node, started: started, finished: finished, row: y, column: right + 1, width: barWidth)
        }
        if selected {
            buffer.restyle(row: y, from: 0, to: width) { $0.reverse = true }
        }
    }

    func describe(_ node: NodeID) -> (String, String, Date?, Date?) {
        switch node {
        case .instance(let id):
            guard let instance = model.tree.instances[id]?.instance else { return (id, "", nil, nil) }
            var summary = ""
            if model.tree.remoteInstances.contains(id) {
                summary = "@" + (instance.agentID.flatMap { model.remote?.agentNames[$0] } ?? "remote")
            } else if let agent = Self.agentLabel(instance) {
                summary = agent
            }
            if let usage = usageSummary(instanceID: id) { summary += (summary.isEmpty ? "" : " ") + usage }
            if let reason = instance.terminationReason { summary += (summary.isEmpty ? "" : " ") + "terminated: " + reason }
            let gone = model.tree.instances[id]?.gone
            if gone != nil { summary += (summary.isEmpty ? "" : " ") + "gone from the API" }
            return ("run " + shortID(id), summary, instance.startedAt ?? instance.registeredAt, instance.finishedAt ?? gone?.at)
        case .span(let id):
            guard let span = model.tree.spans[id]?.span else { return (id, "", nil, nil) }
            // The time of a span of a run that is gone stops with the run.
            let goneAt = model.tree.instances[span.instanceID]?.gone?.at
            return (
                span.schemaName, spanSummary(span), span.startedAt,
                span.finishedAt ?? (span.phase.isFinished ? span.startedAt : goneAt)
            )
        }
    }

    /// One or two telling payload fields: model, tool, query.
    static func summary(of payload: [String: JSONValue]) -> String {
        for key in ["model", "model_name", "tool", "tool_name", "name", "query", "prompt", "input", "url", "step"] {
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
        let end = instance.finishedAt ?? model.tree.instances[instanceID]?.gone?.at ?? model.now
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

    func detailLines(width: Int) -> [(String, CellStyle)] {
        if let picker = model.queuePicker { return pickerLines(picker, width: width) }
        if let id = model.operationDetail { return operationLines(id, width: width) }
        guard let selection = model.selection else { return [("Select a run or a span.", theme.dim)] }
        var text = DetailText(width: width, theme: theme)
        switch selection {
        case .instance(let id):
            guard let node = model.tree.instances[id] else { return [] }
            let instance = node.instance
            text.line("Run " + id, theme.accent)
            text.line("status   " + theme.glyph(node.status) + " " + node.status.rawValue, theme.style(node.status))
            if let agent = instance.agentID {
                text.field("agent", model.remote?.agentNames[agent].map { "\($0) (\(agent))" } ?? agent)
            }
            if let name = instance.agentName { text.field("name", name) }
            if let version = instance.agentVersion { text.field("version", version) }
            usageLines(&text, model.tree.instanceUsage[id], model: nil)
            if model.tree.remoteInstances.contains(id) { text.field("source", "another process (read-only; T terminates)") }
            text.time("started", instance.startedAt)
            text.time("finished", instance.finishedAt)
            if let reason = instance.terminationReason { text.field("reason", reason, theme.style(.terminated), words: true) }
            if let gone = node.gone { text.field("gone", gone.reason, theme.error, words: true) }
            if model.needsRemoteSpans(selection), let counts = model.tree.remoteSpanCounts[id] {
                text.line("spans    \(counts.total) (\(counts.active) running, \(counts.failed) failed; Enter loads them)")
            } else {
                let rollUp = model.tree.rollUp(selection)
                text.line("spans    \(rollUp.spans) (\(rollUp.running) running, \(rollUp.failed) failed)")
            }
            text.history(node.history)
            if !instance.quality.isEmpty {
                text.line("quality", theme.accent)
                for line in JSONValue.object(instance.quality).prettyPrinted.split(separator: "\n") { text.line("  " + line) }
            }
        case .span(let id):
            guard let node = model.tree.spans[id] else { return [] }
            let span = node.span
            text.line(span.schemaName, theme.accent)
            text.line("status   " + theme.glyph(node.status) + " " + node.status.rawValue, theme.style(node.status))
            if node.status == .pending, span.phase == .cancelled {
                text.line("         cancelled before it started; the cancel is queued", theme.dim)
            }
            text.field("id", span.id)
            text.field("api id", span.apiID ?? "— (not delivered yet)", span.apiID == nil ? theme.dim : .plain)
            text.field("parent", span.parentID ?? "—")
            text.field("run", span.instanceID)
            if let data = dataLocationText(model.dataLocation(of: selection)) { text.field("data", data.0, data.1, words: true) }
            text.time("started", span.startedAt)
            text.time("finished", span.finishedAt)
            usageLines(&text, spanTotals(id), model: model.tree.spanUsage[id]?.model)
            if let error = span.deliveryError {
                text.wrapped(Self.syncFailedLabel + ": " + error, indent: 0, continuation: 2, theme.error, words: true)
            }
            text.history(node.history)
            text.line("payload", theme.accent)
            if span.payloadInQueueFile && span.payload.isEmpty && span.resultPayload == nil {
                text.wrapped(
                    "  (kept in the queue file while queued; not in this client's memory)", indent: 2, theme.dim, words: true)
            }
            for line in JSONValue.object(span.payload).prettyPrinted.split(separator: "\n") { text.line("  " + line) }
            if let result = span.resultPayload {
                text.line("result", theme.accent)
                for line in JSONValue.object(result).prettyPrinted.split(separator: "\n") { text.line("  " + line) }
            }
        }
        let operations = model.nodeOperations(for: selection)
        if !operations.isEmpty {
            // Queued and settled, oldest first, each with the idempotency key it is sent with on every attempt.
            text.line("operations", theme.accent)
            for operation in operations {
                switch operation {
                case .queued(let snapshot):
                    text.wrapped(
                        describe(snapshot, full: true), indent: 2, continuation: 4, style(for: snapshot.state), words: true)
                    text.wrapped("key " + snapshot.operation.idempotencyKey, indent: 4, theme.dim)
                case .settled(let settled):
                    text.wrapped(describe(settled), indent: 2, continuation: 4, style(for: settled.outcome), words: true)
                    text.wrapped("key " + settled.idempotencyKey, indent: 4, theme.dim)
                }
            }
        }
        return text.lines
    }

    /// Where a node's data is, for the detail pane.
    func dataLocationText(_ location: DataLocation) -> (String, CellStyle)? {
        switch location {
        case .memory(let count): return ("in memory: \(count) not sent", theme.warning)
        case .disk(let file, let count): return ("on disk: \(count) not sent, in \(file)", .plain)
        case .delivered: return ("delivered", theme.dim)
        case .unknown: return nil
        }
    }

    /// An operation in full (Enter in the queue pane): kind, run, span, key, body, and every attempt.
    func operationLines(_ id: UInt64, width: Int) -> [(String, CellStyle)] {
        var text = DetailText(width: width, theme: theme)
        guard let item = model.detailedOperation else {
            text.line("Operation #\(id)", theme.accent)
            text.line("no longer queued (delivered, or discarded)", theme.dim)
            attemptLines(&text, model.attempts[id] ?? [])
            text.line("Esc returns to the selection", theme.dim)
            return text.lines
        }
        text.line("Operation #\(id) \(item.kind)", theme.accent)
        switch item {
        case .queued(let snapshot):
            text.wrapped(
                "state    " + describeState(snapshot.state), indent: 0, continuation: 9, style(for: snapshot.state), words: true)
        case .failed(let failure):
            text.wrapped("state    failed: " + failure.reason, indent: 0, continuation: 9, theme.error, words: true)
        case .stored(let entry):
            if let reason = entry.failedReason {
                text.wrapped("state    failed: " + reason, indent: 0, continuation: 9, theme.error, words: true)
            } else {
                text.line("state    waiting in \(model.fileView?.path ?? "the file")")
            }
            text.field("queued", WireDate.format(entry.enqueuedAt, style: .zulu))
        }
        guard let operation = item.operation else {
            text.line("its record cannot be read", theme.error)
            return text.lines
        }
        text.field("run", operation.instanceID)
        if let spanID = operation.spanID {
            let name = model.tree.spans[spanID]?.span.schemaName
            text.field("span", spanID + (name.map { " (\($0))" } ?? ""))
        }
        text.wrapped("key      " + operation.idempotencyKey, indent: 0, continuation: 2)
        text.line("body", theme.accent)
        for line in Self.bodyLines(operation.body) { text.wrapped(line, indent: 2, continuation: 4) }
        if case .stored(let entry) = item {
            // Another process's attempts: the file keeps their count and the last error.
            text.line("attempts \(entry.attempts) failed", entry.attempts > 0 ? theme.warning : theme.dim)
            if let last = entry.lastError {
                text.wrapped("last error: " + last, indent: 2, continuation: 4, theme.warning, words: true)
            }
            text.line("Esc returns", theme.dim)
            return text.lines
        }
        attemptLines(&text, model.attempts[id] ?? [])
        text.line("Esc returns to the selection; t goes to its span", theme.dim)
        return text.lines
    }

    /// The queue files found (O), to open one.
    func pickerLines(_ picker: QueueFilePicker, width: Int) -> [(String, CellStyle)] {
        var text = DetailText(width: width, theme: theme)
        text.line("Queue files (↑↓ select, Enter opens, Esc closes)", theme.accent)
        if picker.files.isEmpty { text.line("none found", theme.dim) }
        for (index, file) in picker.files.enumerated() {
            let state = file.problem != nil ? "bad" : file.ownerAlive ? "live" : "dead"
            let owner = file.owner.map { "pid \($0.pid) \($0.command)" } ?? "unknown owner"
            var line = (index == picker.index ? "> " : "  ") + "\(state) \(owner): \(file.depth) queued, \(file.failed) failed"
            if let oldest = file.oldest {
                line += ", oldest " + duration(from: oldest, to: nil).trimmingCharacters(in: .whitespaces)
            }
            let style: CellStyle =
                index == picker.index ? CellStyle(bold: true, reverse: true) : (file.ownerAlive ? .plain : theme.warning)
            text.line(line, style)
            text.wrapped(file.path, indent: 4, index == picker.index ? style : theme.dim)
        }
        return text.lines
    }

    func attemptLines(_ text: inout DetailText, _ attempts: [OperationAttempt]) {
        guard !attempts.isEmpty else {
            text.line("attempts none yet", theme.dim)
            return
        }
        text.line("attempts", theme.accent)
        for attempt in attempts {
            let stamp = DetailText.milliseconds(WireDate.format(attempt.sentAt, style: .zulu))
            let number = attempt.number > 0 ? "#\(attempt.number)" : "—"
            switch attempt.status {
            case .inFlight: text.line("  \(number) \(stamp) in flight", theme.style(.active))
            case .delivered: text.line("  \(number) \(stamp) delivered", theme.good)
            case .retrying(let error, let next):
                text.line(
                    "  \(number) \(stamp) failed, retry at \(DetailText.milliseconds(WireDate.format(next, style: .zulu)))",
                    theme.warning)
                text.wrapped(error, indent: 4, theme.warning, words: true)
            case .failed(let reason):
                text.line("  \(number) \(stamp) failed for good", theme.error)
                text.wrapped(reason, indent: 4, theme.error, words: true)
            }
        }
    }

    func describeState(_ state: OperationState) -> String {
        switch state {
        case .blocked: return "blocked (waits for an earlier operation)"
        case .pending: return "pending"
        case .inFlight(let attempt): return "in flight (attempt \(attempt))"
        case .retrying(let attempt, let next, _):
            return "retrying #\(attempt + 1) in \(max(0, Int(next.timeIntervalSince(model.now).rounded(.up))))s (r retries now)"
        }
    }

    /// The call and its arguments, one line each.
    static func bodyLines(_ body: TelemetryOperation.Body) -> [String] {
        func json(_ object: [String: JSONValue]?) -> [String] {
            guard let object else { return ["null"] }
            return JSONValue.object(object).prettyPrinted.split(separator: "\n").map { "  " + $0 }
        }
        func stamp(_ date: Date) -> String { WireDate.format(date, style: .zulu) }
        switch body {
        case .startInstance(let timestamp):
            return ["timestamp " + stamp(timestamp)]
        case .finishInstance(let status, let timestamp):
            return ["status " + status.rawValue, "timestamp " + stamp(timestamp)]
        case .recordQuality(let name, let payload):
            return ["name " + name, "payload"] + json(payload)
        case .createSpan(let spanID, let parentSpanID, let schemaName, let status, let payload, let startedAt):
            return [
                "span " + spanID, "parent " + (parentSpanID ?? "—"), "schema " + schemaName, "status " + status.rawValue,
                "started " + stamp(startedAt), "payload",
            ] + json(payload)
        case .finishSpan(let spanID, let status, let resultPayload, let timestamp):
            return ["span " + spanID, "status " + status.rawValue, "timestamp " + stamp(timestamp), "result"]
                + json(resultPayload)
        }
    }

    /// A settled operation as one line: id, kind, and how it ended.
    func describe(_ operation: SettledOperation) -> String {
        let text = "#\(operation.id) \(operation.kind.rawValue)"
        switch operation.outcome {
        case .delivered(let attempts): return text + "  delivered" + (attempts > 1 ? " (\(attempts) attempts)" : "")
        case .failed(let reason): return text + "  failed: " + reason
        }
    }

    func style(for outcome: SettledOperation.Outcome) -> CellStyle {
        switch outcome {
        case .delivered: return theme.dim
        case .failed: return theme.error
        }
    }

    func drawDetail(_ buffer: inout CellBuffer, _ geometry: Geometry) {
        let lines = detailLines(width: geometry.detailWidth - 1)
        let scroll = min(model.detailScroll, max(0, lines.count - geometry.bodyHeight))
        for (offset, line) in lines.dropFirst(scroll).prefix(geometry.bodyHeight).enumerated() {
            buffer.write(
                TextWidth.truncate(line.0, to: geometry.detailWidth - 1), row: geometry.bodyTop + offset,
                column: geometry.detailLeft + 1,
                style: line.1)
        }
        if model.focus == .detail {
            // The focus shows on the separator; the label only where it covers nothing (ids are never cut).
            for row in geometry.bodyTop..<(geometry.bodyTop + geometry.bodyHeight) {
                buffer.write(theme.separator, row: row, column: geometry.treeWidth, style: theme.accent)
            }
            let label = "detail"
            let firstLine = lines.dropFirst(scroll).first.map { TextWidth.columns(of: $0.0) } ?? 0
            if geometry.detailLeft + 1 + firstLine + 1 + label.count <= geometry.width {
                buffer.write(label, row: geometry.bodyTop, column: geometry.width - label.count, style: theme.accent)
            }
        }
    }

    // MARK: Queue

    /// A queued operation as one line; `full` keeps the whole error text (the detail pane) instead of its short form
    /// (the queue strip).
    func describe(_ operation: OperationSnapshot, full: Bool = false) -> String {
        let op = operation.operation
        var text = "#\(op.id) \(op.kind.rawValue)"
        if case .createSpan(_, _, let schema, _, _, _) = op.body {
            text += " " + schema
        } else if let spanID = op.spanID, let name = model.tree.spans[spanID]?.span.schemaName {
            text += " " + name
        }
        switch operation.state {
        case .blocked: text += "  blocked"
        case .pending: text += "  pending"
        case .inFlight(let attempt): text += "  in flight" + (attempt > 1 ? " (attempt \(attempt))" : "")
        case .retrying(let attempt, let next, let error):
            text +=
                "  retrying #\(attempt + 1) in \(max(0, Int(next.timeIntervalSince(model.now).rounded(.up))))s: \(full ? error : ErrorText.brief(error))"
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
        // The counts of the operations listed below, so that the strip and its list always agree (the queue's own
        // counts arrive as a separate event and can trail the list by a frame).
        let listed = model.listedQueueCounts
        var x = buffer.write(
            "queue", row: row, column: 0, style: model.focus == .queue ? CellStyle(bold: true, reverse: true) : theme.accent)
        x = buffer.write(" pending \(listed.waiting)", row: row, column: x)
        x = buffer.write(
            " in flight \(listed.inFlight)", row: row, column: x, style: listed.inFlight > 0 ? theme.style(.active) : .plain)
        var retryText = " retrying \(listed.retrying)"
        if let next = model.operations.values.compactMap({ snapshot -> Date? in
            if case .retrying(_, let at, _) = snapshot.state { return at }
            return nil
        }).min() {
            retryText += " (next in \(max(0, Int(next.timeIntervalSince(model.now).rounded(.up))))s)"
        }
        x = buffer.write(retryText, row: row, column: x, style: listed.retrying > 0 ? theme.warning : .plain)
        x = buffer.write(" failed \(queue.failed)", row: row, column: x, style: queue.failed > 0 ? theme.error : .plain)
        x = buffer.write(" delivered \(queue.delivered)", row: row, column: x, style: theme.good)
        if queue.bulkRequests > 0 {
            // Bulk requests: how many went out, and how many operations the latest one carried.
            let last = model.lastBatchSize.map { ", last \($0) ops" } ?? ""
            x = buffer.write(" batches \(queue.bulkRequests)\(last)", row: row, column: x, style: theme.style(.active))
        }
        let recent = Array(model.throughput.suffix(12))
        if !recent.isEmpty, x + 16 < geometry.width {
            let peak = max(1, recent.max() ?? 1)
            let levels = theme.sparkLevels
            x = buffer.write(" ", row: row, column: x)
            for value in recent {
                x = buffer.write(
                    levels[min(levels.count - 1, value * (levels.count - 1) / peak)], row: row, column: x,
                    style: theme.style(.active))
            }
            x = buffer.write(" \(recent.last ?? 0)/s", row: row, column: x)
        }
        if let oldest = queue.oldestEnqueuedAt, x + 12 < geometry.width {
            buffer.write(
                " oldest " + duration(from: oldest, to: nil).trimmingCharacters(in: .whitespaces), row: row, column: x,
                style: theme.dim)
        }
        if let view = model.fileView {
            // Another process's file: its summary over the counts of this process's queue.
            buffer.fill(row: row, from: 0, to: geometry.width, style: .plain)
            let label = buffer.write(
                "file", row: row, column: 0, style: model.focus == .queue ? CellStyle(bold: true, reverse: true) : theme.accent)
            let style: CellStyle =
                view.problem != nil
                ? theme.error : view.takingOver ? theme.style(.active) : view.ownerAlive ? .plain : theme.warning
            buffer.write(
                TextWidth.truncate(" " + (view.problem ?? view.summary), to: geometry.width - label), row: row, column: label,
                style: style)
        }
        // The second line (or the expanded list): operations, retrying ones first, then those that failed for good.
        let items = model.queueItems
        let listRows = geometry.queueHeight - 1
        if items.isEmpty {
            buffer.write(
                TextWidth.truncate(model.quitting ? "queue drained" : "nothing queued", to: geometry.width - 2), row: row + 1,
                column: 1, style: theme.dim)
            return
        }
        let focused = model.focus == .queue
        let selected = focused ? model.selectedQueueIndex : nil
        var scroll = focused ? min(model.queueScroll, max(0, items.count - listRows)) : 0
        if let selected, listRows > 0 {
            if selected < scroll { scroll = selected }
            if selected >= scroll + listRows { scroll = selected - listRows + 1 }
        }
        for (offset, item) in items.dropFirst(scroll).prefix(listRows).enumerated() {
            let line: String
            var lineStyle: CellStyle
            switch item {
            case .queued(let operation):
                line = describe(operation)
                lineStyle = style(for: operation.state)
            case .failed(let failure):
                line = describe(failure)
                lineStyle = theme.error
            case .stored(let entry):
                line = describe(entry)
                lineStyle = entry.failedReason != nil ? theme.error : entry.attempts > 0 ? theme.warning : .plain
            }
            if scroll + offset == selected {
                lineStyle.reverse = true
                buffer.fill(row: row + 1 + offset, from: 0, to: geometry.width, style: lineStyle)
            }
            buffer.write(TextWidth.truncate(line, to: geometry.width - 2), row: row + 1 + offset, column: 1, style: lineStyle)
        }
    }

    /// An operation of another process's queue file, as one line of the queue pane.
    func describe(_ entry: QueueFileEntry) -> String {
        var text = "#\(entry.id) \(entry.kind) run \(entry.instanceID)"
        if let spanID = entry.spanID { text += " span \(spanID)" }
        if let reason = entry.failedReason { return text + "  failed: " + ErrorText.brief(reason) }
        text += "  waiting"
        if entry.attempts > 0 { text += " (\(entry.attempts) failed attempt(s): \(ErrorText.brief(entry.lastError ?? "")))" }
        return text
    }

    /// An operation that failed for good, as one line of the queue pane.
    func describe(_ failure: FailedOperation) -> String {
        let op = failure.operation
        var text = "#\(op.id) \(op.kind.rawValue)"
        if case .createSpan(_, _, let schema, _, _, _) = op.body {
            text += " " + schema
        } else if let spanID = op.spanID, let name = model.tree.spans[spanID]?.span.schemaName {
            text += " " + name
        }
        return text + "  failed: " + ErrorText.brief(failure.reason)
    }

    // MARK: Hints and overlays

    func drawHints(_ buffer: inout CellBuffer, _ geometry: Geometry) {
        let row = geometry.height - 1
        buffer.fill(row: row, from: 0, to: geometry.width, style: .plain)
        if let prompt = model.prompt {
            drawPrompt(&buffer, prompt, row: row, width: geometry.width)
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
                TextWidth.truncate(
                    "Quitting: delivering \(model.queue.depth) queued operation(s)… q again quits now", to: geometry.width),
                row: row, column: 0, style: theme.warning)
            return
        }
        if let message = model.message {
            buffer.write(
                TextWidth.truncate(message.text, to: geometry.width), row: row, column: 0,
                style: message.isError ? theme.error : theme.good)
            return
        }
        let hints: [(String, String)]
        switch model.focus {
        case .tree where model.timeline != nil:
            hints = Self.timelineHints
        case .tree:
            hints =
                model.readonly
                ? [
                    ("↑↓", "move"), ("←→", "fold"), ("/", "filter"), ("e", "errors"), ("F", "follow"), ("Tab", "pane"),
                    ("?", "help"), ("q", "quit"),
                ]
                : [
                    ("n", "new run"), ("a", "add span"), ("s", "start"), ("f", "finish"), ("x", "fail"), ("c", "cancel"),
                    ("T", "terminate"), ("/", "filter"), ("?", "help"), ("q", "quit"),
                ]
        case .queue where model.fileView != nil:
            let canTakeOver = !model.readonly && model.fileView?.ownerAlive == false && model.fileView?.takingOver == false
            hints =
                [("↑↓", "select"), ("Enter", "show")] + (canTakeOver ? [("D", "take over")] : [])
                + [("O", "queue files"), ("Esc", "back"), ("?", "help"), ("q", "quit")]
        case .queue:
            hints =
                [("↑↓", "select"), ("Enter", "show"), ("t", "to its span"), ("r", "retry now")]
                + (model.readonly ? [] : [("d", "discard failed")])
                + [("Esc", "back"), ("Tab", "next pane"), ("?", "help"), ("q", "quit")]
        case .detail:
            // Action keys work in every pane: the selection stays the tree's.
            hints =
                [("↑↓", "scroll"), ("Tab", "next pane")]
                + (model.readonly
                    ? []
                    : [("f", "finish"), ("x", "fail"), ("c", "cancel"), ("s", "start"), ("a", "add span"), ("n", "new run")])
                + [("?", "help"), ("q", "quit")]
        }
        // The last two hints (help and quit) always show; the others as room allows.
        // Keys as the config file binds them.
        func hintWidth(_ hint: (String, String)) -> Int {
            TextWidth.columns(of: model.keyMap.label(hint.0)) + TextWidth.columns(of: hint.1) + 2
        }
        let tail = hints.suffix(2)
        let tailWidth = tail.reduce(0) { $0 + hintWidth($1) }
        var x = frozenHint(&buffer, row: row)
        var skipping = false
        for (index, hint) in hints.enumerated() {
            let reserve = index < hints.count - 2 ? tailWidth : 0
            if index < hints.count - 2, skipping || x + hintWidth(hint) + reserve > geometry.width {
                skipping = true
                continue
            }
            guard x + hintWidth(hint) <= geometry.width else { break }
            x = buffer.write(model.keyMap.label(hint.0), row: row, column: x, style: theme.accent)
            x = buffer.write(" " + hint.1 + " ", row: row, column: x, style: theme.dim)
        }
    }

    /// The prompt line: label, the text with the cursor (reverse video), then the default as a hint when nothing is
    /// typed, and the keys. A text longer than the line scrolls so the cursor stays in view.
    func drawPrompt(_ buffer: inout CellBuffer, _ prompt: Prompt, row: Int, width: Int) {
        var x = buffer.write(prompt.label + ": ", row: row, column: 0, style: theme.accent)
        let characters = Array(prompt.text)
        let cursor = min(max(0, prompt.cursor), characters.count)
        let room = max(1, width - x - 1)
        let first = max(0, cursor - room + 1)
        for (index, character) in characters.enumerated().dropFirst(first) {
            guard x < width - 1 else { break }
            x = buffer.write(String(character), row: row, column: x, style: index == cursor ? CellStyle(reverse: true) : .plain)
        }
        if cursor == characters.count, x < width {
            // The cursor after the text; on an empty prompt it sits on the hint's first letter.
            let under = characters.isEmpty ? prompt.placeholder.first.map(String.init) ?? " " : " "
            x = buffer.write(under, row: row, column: x, style: CellStyle(dim: characters.isEmpty, reverse: true))
            if characters.isEmpty {
                x = buffer.write(
                    String(prompt.placeholder.dropFirst()), row: row, column: x, style: theme.dim, maxColumns: width - x)
            }
        }
        let keys =
            characters.isEmpty && !prompt.placeholder.isEmpty
            ? "  Enter adds \(prompt.placeholder), Esc cancels" : "  Enter adds, Esc cancels"
        if x < width { buffer.write(keys, row: row, column: x, style: theme.dim, maxColumns: width - x) }
    }

    /// Every key, for the `?` overlay.
    public static let helpLines: [(String, String)] = [
        ("↑ ↓  k j", "move"), ("PgUp PgDn  g G", "page, top, bottom"), ("← →  h l  Space", "collapse, expand, toggle"),
        ("-  =", "collapse all, expand all"), ("Tab", "focus: tree, detail, queue"), ("/", "filter (Esc clears)"),
        ("e", "errors only"), ("F", "follow the newest activity"), ("n", "new agent run"),
        ("a", "add a span under the selection"),
        ("s", "start the selected prepared span"), ("f", "finish as complete"), ("x", "fail (asks y/n)"),
        ("c", "cancel (asks y/n)"), ("T", "terminate the run on the server (asks y/n)"), ("p", "pause or resume the demo"),
        ("W", "watching: poll every 1, 2, 5, 10 or 30 s"), ("w  i o  < >  0", "timeline; zoom in, out; pan; fit"),
        ("S  v", "sort; only running, failed or finished"), ("]  [  Z", "next, previous match; freeze updates"),
        ("?", "this help"),
        ("q", "quit (drains the queue; q again quits now)"),
    ]

    func drawHelp(_ buffer: inout CellBuffer, _ geometry: Geometry) {
        let box = HelpBox(width: geometry.width, height: geometry.height)
        let border = theme.box
        let right = box.left + box.width - 1
        let bottom = box.top + box.height - 1
        for row in box.top...bottom {
            buffer.fill(row: row, from: box.left, to: box.left + box.width, style: .plain)
            let edge = row == box.top || row == bottom
            buffer.write(
                edge ? (row == box.top ? border.topLeft : border.bottomLeft) : border.vertical, row: row, column: box.left,
                style: theme.dim)
            buffer.write(
                edge ? (row == box.top ? border.topRight : border.bottomRight) : border.vertical, row: row, column: right,
                style: theme.dim)
            if edge {
                buffer.write(
                    String(repeating: border.horizontal, count: max(0, box.width - 2)), row: row, column: box.left + 1,
                    style: theme.dim)
            }
        }
        buffer.write(" Keys ", row: box.top, column: box.left + 2, style: theme.accent)
        let scroll = min(model.helpScroll, box.overflow)
        for (offset, line) in Self.helpLines.dropFirst(scroll).prefix(box.visibleLines).enumerated() {
            let x = buffer.write(
                TextWidth.pad(model.keyMap.label(line.0), to: 18), row: box.top + 1 + offset, column: box.left + 2,
                style: theme.accent)
            buffer.write(TextWidth.truncate(line.1, to: right - x - 1), row: box.top + 1 + offset, column: x)
        }
        let footer: String
        if box.overflow > 0 {
            let shown = "\(scroll + 1)-\(scroll + box.visibleLines)/\(Self.helpLines.count)"
            footer = " \(shown) ↑↓ PgUp PgDn scroll, any other key closes "
        } else {
            footer = " any key closes "
        }
        buffer.write(TextWidth.truncate(footer, to: box.width - 4), row: bottom, column: box.left + 2, style: theme.dim)
    }
}

/// Where the `?` overlay goes on a screen, and how much of the key list it shows at once.
struct HelpBox {
    var left: Int
    var top: Int
    var width: Int
    var height: Int
    /// Key lines shown at once (between the top and bottom borders).
    var visibleLines: Int
    /// Key lines that do not fit: how far the list scrolls.
    var overflow: Int

    init(width screenWidth: Int, height screenHeight: Int) {
        width = max(4, min(screenWidth - 4, 64))
        height = max(3, min(screenHeight - 2, Layout.helpLines.count + 2))
        left = max(0, (screenWidth - width) / 2)
        top = max(1, (screenHeight - height) / 2)
        visibleLines = height - 2
        overflow = max(0, Layout.helpLines.count - visibleLines)
    }
}

extension NodeID {
    var isInstance: Bool {
        if case .instance = self { return true }
        return false
    }

    /// The span id, for a span.
    var spanID: String? {
        if case .span(let id) = self { return id }
        return nil
    }
}
