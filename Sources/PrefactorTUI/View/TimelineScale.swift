import Foundation

/// Maps a run's time onto the columns of the timeline: the window shown (zoom and pan), the ticks of the axis and
/// where each bar goes. Pure: a value computed from the run's length, the view state and the width.
public struct TimelineScale: Sendable, Hashable {
    /// Seconds into the run at the window's left edge.
    public var start: TimeInterval
    /// Seconds the window shows.
    public var length: TimeInterval
    /// Columns of the bar area.
    public var columns: Int

    /// The window of a run of `run` seconds, as a view state asks for it, over `columns` columns.
    public init(run: TimeInterval, state: TimelineState, columns: Int) {
        let run = max(0.001, run)
        let zoom = min(max(1, state.zoom), TimelineState.maximumZoom)
        length = run / zoom
        start = TimelineState.clamp(state.offset, zoom: zoom, run: run)
        self.columns = max(1, columns)
    }

    /// The column (fractional) of a moment, in seconds into the run.
    public func column(_ seconds: TimeInterval) -> Double {
        (seconds - start) / length * Double(columns)
    }

    /// Where a bar from `from` to `to` seconds into the run goes: its first column and the column after its last
    /// (at least one column), and whether it goes on past either edge; `nil` when it is outside the window.
    public func bar(from: TimeInterval, to: TimeInterval) -> Bar? {
        let left = column(from)
        let right = column(max(from, to))
        guard right >= 0, left <= Double(columns) else { return nil }
        // A bar ending exactly on the left edge still shows, as one cell.
        var first = max(0, Int(left.rounded(.down)))
        var end = min(columns, max(first + 1, Int(right.rounded(.up))))
        if first >= columns {
            first = columns - 1
            end = columns
        }
        return Bar(first: first, end: end, beforeWindow: left < 0, afterWindow: right > Double(columns))
    }

    /// A bar's columns.
    public struct Bar: Sendable, Hashable {
        /// The first column.
        public var first: Int
        /// The column after the last.
        public var end: Int
        /// Whether it started before the window.
        public var beforeWindow: Bool
        /// Whether it goes on after the window.
        public var afterWindow: Bool

        /// Creates a bar.
        public init(first: Int, end: Int, beforeWindow: Bool, afterWindow: Bool) {
            self.first = first
            self.end = end
            self.beforeWindow = beforeWindow
            self.afterWindow = afterWindow
        }
    }

    /// Steps between ticks, in seconds: 1-2-5 up to a minute, then whole minutes and hours.
    static let steps: [TimeInterval] = [
        0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200,
        10800, 21600, 43200, 86400,
    ]

    /// The ticks of the axis: the shortest step whose labels fit with a gap between them, at every multiple of the
    /// step inside the window, as (column, label) with labels in time since the run started.
    public func ticks(minimumGap: Int = 2) -> [(column: Int, label: String)] {
        let step =
            Self.steps.first { step in
                let width = Double(Self.label(start + length, step: step, end: start + length).count + minimumGap)
                return step / length * Double(columns) >= width
            } ?? length
        var result: [(Int, String)] = []
        var time = (start / step).rounded(.up) * step
        while time <= start + length + step * 1e-9 {
            let column = Int(column(time).rounded())
            if column < columns { result.append((column, Self.label(time, step: step, end: start + length))) }
            time += step
        }
        return result
    }

    /// A moment as an axis label, as precise as the step: `0s`, `250ms` (when the window ends within a second),
    /// `1.5s`, `2m`, `1m30s`, `1h05m`.
    static func label(_ seconds: TimeInterval, step: TimeInterval, end: TimeInterval) -> String {
        let seconds = max(0, seconds)
        if seconds == 0 { return "0s" }
        if step < 1 && end < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        if step < 1 {
            let decimals = step < 0.01 ? 3 : step < 0.1 ? 2 : 1
            return String(format: "%.\(decimals)fs", seconds)
        }
        let whole = Int(seconds.rounded())
        if whole < 60 { return "\(whole)s" }
        if whole < 3600 { return whole % 60 == 0 ? "\(whole / 60)m" : "\(whole / 60)m\(String(format: "%02d", whole % 60))s" }
        return "\(whole / 3600)h" + String(format: "%02d", whole % 3600 / 60) + "m"
    }
}
