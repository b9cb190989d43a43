/// A mouse event, at a cell of the screen (0-based row and column).
public struct MouseEvent: Hashable, Sendable {
    /// What the mouse did.
    public enum Kind: Hashable, Sendable {
        /// The left button was pressed (a click).
        case press
        /// The wheel turned up (away from the user).
        case wheelUp
        /// The wheel turned down.
        case wheelDown
    }

    /// What the mouse did.
    public var kind: Kind
    /// The screen row.
    public var row: Int
    /// The screen column.
    public var column: Int

    /// Creates an event.
    public init(_ kind: Kind, row: Int, column: Int) {
        self.kind = kind
        self.row = row
        self.column = column
    }
}

/// The part of the screen under the pointer.
enum ScreenRegion: Equatable {
    /// A tree line (0-based from the first tree line).
    case tree(line: Int)
    /// A row of the timeline's bars (0-based from the first, below the axis).
    case timeline(line: Int)
    case detail
    /// A line of the queue strip (0: the counts line).
    case queue(line: Int)
    case elsewhere
}

extension AppModel {
    /// Lines a turn of the wheel scrolls.
    public static let wheelStep = 3

    /// Handles a mouse event: a click selects the row under it (on its fold marker, folds or unfolds it) and
    /// focuses the pane; the wheel scrolls the pane under the pointer. Nothing happens while a question, a prompt,
    /// the filter line or the picker is open; a click closes the help overlay.
    public mutating func handle(_ event: MouseEvent) -> [Effect] {
        defer { refreshRows() }
        if quitting || confirmation != nil || prompt != nil || filterEditing || queuePicker != nil { return [] }
        if showHelp {
            if event.kind == .press { showHelp = false }
            return []
        }
        let region = region(at: event.row, column: event.column)
        switch (event.kind, region) {
        case (.press, .tree(let line)):
            focus = .tree
            return click(treeLine: line, column: event.column)
        case (.press, .timeline(let line)):
            focus = .tree
            let layout = Layout(model: self, theme: Theme())
            let shown = layout.timelineRows()
            let rowCount = TimelineGeometry(bodyTop: 0, bodyHeight: Geometry(for: self).bodyHeight, width: width).rowCount
            let index = layout.firstTimelineRow(shown, rowCount: rowCount) + line
            guard shown.indices.contains(index) else { break }
            // The timeline indents one column a level.
            return click(shown[index], marker: min(shown[index].depth, 12), column: event.column)
        case (.press, .detail):
            focus = .detail
        case (.press, .queue(let line)):
            if focus == .queue, line > 0 {
                // The list is drawn as the layout scrolls it: the same window, the line under the pointer.
                let items = queueItems
                let rows = Geometry(for: self).queueHeight - 1
                var first = min(queueScroll, max(0, items.count - rows))
                if let selected = selectedQueueIndex {
                    if selected < first { first = selected }
                    if selected >= first + rows { first = selected - rows + 1 }
                }
                let index = first + line - 1
                if items.indices.contains(index) { queueSelection = items[index].id }
            }
            focus = .queue
        case (.wheelUp, .tree), (.wheelDown, .tree):
            scrollTree(by: event.kind == .wheelUp ? -Self.wheelStep : Self.wheelStep)
        case (.wheelUp, .timeline), (.wheelDown, .timeline):
            // The timeline keeps the selection in view: the wheel moves it, within the run.
            let shown = Layout(model: self, theme: Theme()).timelineRows()
            guard let current = shown.firstIndex(where: { $0.node == selection }) else { break }
            let target = min(max(0, current + (event.kind == .wheelUp ? -Self.wheelStep : Self.wheelStep)), shown.count - 1)
            selection = shown[target].node
            follow = false
            detailScroll = 0
        case (.wheelUp, .detail), (.wheelDown, .detail):
            detailScroll = max(0, detailScroll + (event.kind == .wheelUp ? -Self.wheelStep : Self.wheelStep))
        case (.wheelUp, .queue), (.wheelDown, .queue):
            _ = handleQueue(event.kind == .wheelUp ? .up : .down)
        default:
            break
        }
        return []
    }

    /// What is at a cell of the screen, as the layout draws the model.
    func region(at row: Int, column: Int) -> ScreenRegion {
        let geometry = Geometry(for: self)
        guard geometry.fits, row >= 0, column >= 0, column < geometry.width else { return .elsewhere }
        if timeline != nil, row >= geometry.bodyTop, row < geometry.bodyTop + geometry.bodyHeight {
            // The waterfall across the whole width, the detail pane below it.
            let layout = TimelineGeometry(bodyTop: geometry.bodyTop, bodyHeight: geometry.bodyHeight, width: geometry.width)
            if row >= layout.rowsTop, row < layout.rowsTop + layout.rowCount { return .timeline(line: row - layout.rowsTop) }
            return row >= layout.detailTop ? .detail : .elsewhere
        }
        if row >= geometry.bodyTop, row < geometry.bodyTop + geometry.bodyHeight {
            if column < geometry.treeWidth { return .tree(line: row - geometry.bodyTop) }
            return column >= geometry.detailLeft ? .detail : .elsewhere
        }
        if row >= geometry.queueTop, row < geometry.queueTop + geometry.queueHeight {
            return .queue(line: row - geometry.queueTop)
        }
        return .elsewhere
    }

    /// The first tree row on screen, as the layout computes it.
    private var firstVisibleRow: Int { min(scroll, max(0, rows.count - max(1, treeRowsVisible))) }

    private mutating func click(treeLine line: Int, column: Int) -> [Effect] {
        guard line < max(1, treeRowsVisible) else { return [] }  // the position line under an overflowing tree
        let index = firstVisibleRow + line
        guard rows.indices.contains(index) else { return [] }
        // The fold marker sits after the indent (two columns a level, at most twelve levels).
        return click(rows[index], marker: 2 * min(rows[index].depth, 12), column: column)
    }

    /// Selects a row; a click on its fold marker (or just after it) folds or unfolds it.
    private mutating func click(_ row: VisibleRow, marker: Int, column: Int) -> [Effect] {
        selection = row.node
        if let index = rowIndex(of: row.node) { noteSelection(at: index) }
        follow = false
        operationDetail = nil
        detailScroll = 0
        guard column == marker || column == marker + 1 else { return [] }
        let node = row.node
        if needsRemoteSpans(node) {
            collapsed.remove(node)
            return [.loadRemoteSpans(node.rawID)]
        }
        guard tree.children[node]?.isEmpty == false else { return [] }
        if collapsed.contains(node) { collapsed.remove(node) } else { collapsed.insert(node) }
        return []
    }

    /// Scrolls the tree without moving the selection unless it would leave the screen (it then stays on the
    /// nearest visible row).
    private mutating func scrollTree(by lines: Int) {
        let visible = max(1, treeRowsVisible)
        guard rows.count > visible else { return }
        follow = false
        scroll = min(max(0, firstVisibleRow + lines), rows.count - visible)
        guard let index = selectedIndex else { return }
        let target = min(max(index, scroll), scroll + visible - 1)
        if target != index {
            selection = rows[target].node
            noteSelection(at: target)
            detailScroll = 0
        }
    }
}
