import Foundation
import PrefactorCore
import PrefactorWire

/// Where the timeline's parts go in the body of the screen: the waterfall across the whole width on top, the detail
/// pane of the selection below it.
public struct TimelineGeometry: Hashable, Sendable {
    /// The axis row.
    public var axisRow: Int
    /// Rows of bars (below the axis).
    public var rowsTop: Int
    public var rowCount: Int
    /// The line between the waterfall and the detail pane.
    public var separatorRow: Int
    /// The detail pane.
    public var detailTop: Int
    public var detailHeight: Int
    /// Columns of the label (fold marker, glyph, name, summary), of the duration, and where the bars start.
    public var labelWidth: Int
    public var durationWidth: Int
    public var barLeft: Int
    public var barWidth: Int

    /// Lays the timeline out in a body of the given rows, at a width.
    public init(bodyTop: Int, bodyHeight: Int, width: Int) {
        detailHeight = max(3, bodyHeight >= 30 ? bodyHeight * 2 / 5 : bodyHeight * 3 / 10)
        axisRow = bodyTop
        rowsTop = bodyTop + 1
        separatorRow = bodyTop + max(2, bodyHeight - detailHeight - 1)
        rowCount = max(1, separatorRow - rowsTop)
        detailTop = separatorRow + 1
        detailHeight = max(0, bodyTop + bodyHeight - detailTop)
        labelWidth = min(60, max(26, width * 3 / 10))
        durationWidth = 7
        barLeft = labelWidth + durationWidth + 1
        barWidth = max(1, width - barLeft - 1)
    }
}

extension Layout {
    /// Keys shown on the hint line while the timeline is shown.
    static let timelineHints: [(String, String)] = [
        ("w", "tree"), ("i o", "zoom"), ("< >", "pan"), ("0", "fit"), ("↑↓", "move"), ("←→", "fold"), ("?", "help"),
        ("q", "quit"),
    ]

    /// The rows of the selected run as the tree shows them (folds and filters included): the run, then its spans.
    func timelineRows() -> [VisibleRow] {
        guard let selection = model.selection, let instanceID = model.tree.instanceID(of: selection),
            let first = model.rowIndex(of: .instance(instanceID))
        else { return [] }
        var end = first + 1
        while end < model.rows.count, model.rows[end].depth > 0 { end += 1 }
        return Array(model.rows[first..<end])
    }

    /// The waterfall of the selected run with an axis, and the detail pane below it.
    func drawTimeline(_ buffer: inout CellBuffer, _ geometry: Geometry) {
        let layout = TimelineGeometry(bodyTop: geometry.bodyTop, bodyHeight: geometry.bodyHeight, width: geometry.width)
        let rows = timelineRows()
        guard let range = model.selectedRunRange, !rows.isEmpty else {
            buffer.write(
                TextWidth.truncate("No run selected: the timeline shows the selected run's spans.", to: geometry.width - 2),
                row: geometry.bodyTop, column: 1, style: theme.dim)
            drawTimelineDetail(&buffer, layout, width: geometry.width)
            return
        }
        let scale = TimelineScale(run: range.duration, state: model.timeline ?? TimelineState(), columns: layout.barWidth)
        let first = firstTimelineRow(rows, rowCount: layout.rowCount)
        drawAxis(&buffer, layout, scale: scale, rows: (first, rows.count))
        let gridColumns = Set(scale.ticks().map(\.column))
        for (offset, row) in rows.dropFirst(first).prefix(layout.rowCount).enumerated() {
            drawTimelineRow(
                &buffer, row, row: layout.rowsTop + offset, layout: layout, scale: scale, origin: range.origin,
                grid: gridColumns, width: geometry.width)
        }
        drawTimelineDetail(&buffer, layout, width: geometry.width)
    }

    /// The first of the timeline's rows on screen: the selection stays in view; otherwise the rows stay where the
    /// tree's scroll put them.
    func firstTimelineRow(_ rows: [VisibleRow], rowCount: Int) -> Int {
        guard let head = rows.first else { return 0 }
        let selected = rows.firstIndex { $0.node == model.selection } ?? 0
        let anchor = (model.rowIndex(of: head.node)).map { model.scroll - $0 } ?? 0
        return min(max(0, min(selected, max(anchor, selected - rowCount + 1))), max(0, rows.count - rowCount))
    }

    /// The axis: the zoom and the rows shown on the left, the time since the run started over the bars.
    func drawAxis(_ buffer: inout CellBuffer, _ layout: TimelineGeometry, scale: TimelineScale, rows: (first: Int, count: Int)) {
        let zoom = model.timeline?.zoom ?? 1
        var label = zoom > 1 ? "zoom ×\(Int(zoom))" : "whole run"
        if rows.count > layout.rowCount {
            label += "  \(rows.first + 1)-\(min(rows.count, rows.first + layout.rowCount))/\(rows.count)"
        }
        buffer.write(
            TextWidth.truncate(label, to: layout.labelWidth + layout.durationWidth), row: layout.axisRow, column: 0,
            style: theme.accent)
        for tick in scale.ticks() {
            let column = layout.barLeft + tick.column
            let room = layout.barLeft + layout.barWidth - column
            guard room > 0 else { continue }
            buffer.write(tick.label, row: layout.axisRow, column: column, style: theme.dim, maxColumns: room)
        }
    }

    /// One row: indent, fold marker, glyph, name and summary; the duration; the bar over a dotted grid at the ticks.
    func drawTimelineRow(
        _ buffer: inout CellBuffer, _ row: VisibleRow, row y: Int, layout: TimelineGeometry, scale: TimelineScale,
        origin: Date, grid: Set<Int>, width: Int
    ) {
        let node = row.node
        guard let status = model.tree.status(of: node) else { return }
        let syncFailed = node.spanID.flatMap { model.tree.spans[$0]?.syncFailed } ?? false
        let shown = syncFailed ? DisplayStatus.failed : status
        let hasChildren = model.tree.children[node]?.isEmpty == false
        let marker = hasChildren ? (model.collapsed.contains(node) ? theme.collapsedMarker : theme.expandedMarker) : " "
        let indent = String(repeating: " ", count: min(row.depth, 12))
        var x = buffer.write(indent + marker + " ", row: y, column: 0, style: theme.dim, maxColumns: layout.labelWidth)
        x = buffer.write(theme.glyph(shown), row: y, column: x, style: theme.style(shown), maxColumns: layout.labelWidth - x)
        x = buffer.write(" ", row: y, column: x, maxColumns: layout.labelWidth - x)
        let (name, summary, started, finished) = describe(node)
        // The name, then the summary, cut with `…` to the label column (a space before the duration).
        let label = TextWidth.truncate(summary.isEmpty ? name : name + " " + summary, to: max(0, layout.labelWidth - x - 1))
        let nameStyle = node.isInstance ? CellStyle(bold: true) : CellStyle.plain
        if label.hasPrefix(name) {
            x = buffer.write(name, row: y, column: x, style: nameStyle)
            buffer.write(String(label.dropFirst(name.count)), row: y, column: x, style: theme.dim)
        } else {
            buffer.write(label, row: y, column: x, style: nameStyle)
        }
        let durationText = duration(from: started, to: finished)
        buffer.write(
            TextWidth.pad(String(repeating: " ", count: max(0, 6 - durationText.count)) + durationText, to: layout.durationWidth),
            row: y, column: layout.labelWidth, style: status == .active ? theme.style(.active) : theme.dim,
            maxColumns: layout.durationWidth)
        for column in grid where column < layout.barWidth {
            buffer.write(theme.barCells.empty, row: y, column: layout.barLeft + column, style: theme.dim)
        }
        if let started,
            let bar = scale.bar(
                from: started.timeIntervalSince(origin), to: (finished ?? model.now).timeIntervalSince(origin))
        {
            for column in bar.first..<bar.end {
                var cell = theme.barCells.filled
                if column == bar.first && bar.beforeWindow { cell = theme.unicode ? "◂" : "<" }
                if column == bar.end - 1 && bar.afterWindow { cell = theme.unicode ? "▸" : ">" }
                buffer.write(cell, row: y, column: layout.barLeft + column, style: theme.style(shown))
            }
        }
        if node == model.selection {
            buffer.restyle(row: y, from: 0, to: width) { $0.reverse = true }
        }
    }

    /// The detail pane of the selection, under a line across the screen.
    func drawTimelineDetail(_ buffer: inout CellBuffer, _ layout: TimelineGeometry, width: Int) {
        let focused = model.focus == .detail
        buffer.write(
            String(repeating: theme.box.horizontal, count: width), row: layout.separatorRow, column: 0,
            style: focused ? theme.accent : theme.dim)
        if focused { buffer.write(" detail ", row: layout.separatorRow, column: 2, style: theme.accent) }
        guard layout.detailHeight > 0 else { return }
        let lines = detailLines(width: width - 2)
        let scroll = min(model.detailScroll, max(0, lines.count - layout.detailHeight))
        for (offset, line) in lines.dropFirst(scroll).prefix(layout.detailHeight).enumerated() {
            buffer.write(TextWidth.truncate(line.0, to: width - 2), row: layout.detailTop + offset, column: 1, style: line.1)
        }
    }
}
