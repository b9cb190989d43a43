import Foundation
import PrefactorCore
import PrefactorWire

extension AppModel {
    /// Keys that change how the tree is viewed, not what it holds: they work whichever pane has the focus.
    ///
    /// - Returns: The effects, or `nil` when the key is not one of them.
    mutating func handleViewKey(_ key: Key) -> [Effect]? {
        guard case .character(let character) = key else { return nil }
        switch character {
        case "w":
            timeline = timeline == nil ? TimelineState() : nil
            message = Message(
                text: timeline == nil ? "Tree" : "Timeline of the selected run: i o zoom, < > pan, 0 fits, w back to the tree",
                isError: false)
        case "i", "o", "<", ">", "0":
            guard var state = timeline else { return nil }
            guard let range = selectedRunRange else { break }
            state.adjust(character, run: range.duration, focus: selectedSpanStart(in: range))
            timeline = state
        case "S":
            sort = sort.next
            message = Message(text: "Sorted by \(sort.label)", isError: false)
        case "v":
            statusFilter = statusFilter.next
            message = Message(
                text: statusFilter == .all ? "Every status" : "Only \(statusFilter.rawValue) (and what they are under)",
                isError: false)
        case "]", "[":
            goToMatch(forward: character == "]")
        case "Z":
            if frozen == nil {
                freeze()
                message = Message(text: "Frozen: updates wait until Z", isError: false)
            } else {
                let waiting = frozen?.waiting ?? 0
                let needsSnapshot = thaw()
                message = Message(text: "Applied \(waiting) update(s) held while frozen", isError: false)
                if needsSnapshot { return [.resync] }
            }
        default:
            return nil
        }
        return []
    }

    /// The selected run's time: from its start to its end (or now).
    var selectedRunRange: (origin: Date, duration: TimeInterval)? {
        guard let selection, let id = tree.instanceID(of: selection), let node = tree.instances[id] else { return nil }
        let origin = node.instance.startedAt ?? node.instance.registeredAt
        let end = node.instance.finishedAt ?? node.gone?.at ?? now
        return (origin, max(0.001, end.timeIntervalSince(origin)))
    }

    /// Where the selected span started, in seconds into its run (what zooming in keeps in view).
    private func selectedSpanStart(in range: (origin: Date, duration: TimeInterval)) -> TimeInterval? {
        guard let id = selection?.spanID, let started = tree.spans[id]?.span.startedAt else { return nil }
        return started.timeIntervalSince(range.origin)
    }

    /// Selects the next (or previous) row that matches the filter, errors only and the status filter, wrapping around.
    private mutating func goToMatch(forward: Bool) {
        guard !filter.isEmpty || errorsOnly || statusFilter != .all else {
            message = Message(text: "No filter to match: / filters by text, e errors, v status", isError: true)
            return
        }
        let matches = rows.indices.filter { matchesCriteria(rows[$0].node) }
        guard !matches.isEmpty else {
            message = Message(text: "Nothing matches", isError: true)
            return
        }
        let current = selectedIndex ?? -1
        let target =
            forward
            ? matches.first { $0 > current } ?? matches[0]
            : matches.last { $0 < current } ?? matches[matches.count - 1]
        follow = false
        selection = rows[target].node
        noteSelection(at: target)
        detailScroll = 0
        clampScroll()
        let position = (matches.firstIndex(of: target) ?? 0) + 1
        message = Message(text: "Match \(position)/\(matches.count)", isError: false)
    }
}

extension TimelineState {
    /// Zooms (`i` in, `o` out), pans (`<` `>` a quarter of the window) or fits the whole run (`0`).
    ///
    /// - Parameters:
    ///   - key: The key.
    ///   - run: The run's length in seconds.
    ///   - focus: Seconds into the run to keep in view when zooming in (the selected span's start), if any.
    public mutating func adjust(_ key: Character, run: TimeInterval, focus: TimeInterval?) {
        let window = run / zoom
        switch key {
        case "i":
            guard zoom < Self.maximumZoom else { return }
            let center = focus.flatMap { (offset...(offset + window)).contains($0) ? $0 : nil } ?? offset + window / 2
            zoom *= 2
            offset = center - run / zoom / 2
        case "o":
            let center = offset + window / 2
            zoom = max(1, zoom / 2)
            offset = center - run / zoom / 2
        case "<": offset -= window / 4
        case ">": offset += window / 4
        default:
            zoom = 1
            offset = 0
        }
        offset = Self.clamp(offset, zoom: zoom, run: run)
    }

    /// An offset kept inside the run, so the window never shows time outside it.
    static func clamp(_ offset: TimeInterval, zoom: Double, run: TimeInterval) -> TimeInterval {
        min(max(0, offset), max(0, run - run / zoom))
    }
}
