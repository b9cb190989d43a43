import Foundation
import PrefactorCore
import PrefactorWire

/// The lines of the detail pane, built for its width. Values an operator copies or compares whole (ids, timestamps,
/// idempotency keys, delivery errors) are never cut: a value too long for its label's line goes on the lines below
/// it, wrapped. Other lines (pretty payloads) are cut with `…` when drawn.
struct DetailText {
    /// The columns of the pane's text.
    let width: Int
    let theme: Theme
    /// The lines so far, with their styles.
    private(set) var lines: [(String, CellStyle)] = []

    /// Columns of a label and the space after it: `finished ` is the longest.
    static let labelColumns = 9

    init(width: Int, theme: Theme) {
        self.width = max(1, width)
        self.theme = theme
    }

    /// A line as it is (cut when drawn, if too long).
    mutating func line(_ text: String, _ style: CellStyle = .plain) {
        lines.append((text, style))
    }

    /// `label value` on one line when it fits; otherwise the label, then the value wrapped below it (at spaces when
    /// `words` is set, for prose).
    mutating func field(_ label: String, _ value: String, _ style: CellStyle = .plain, words: Bool = false) {
        if Self.labelColumns + TextWidth.columns(of: value) <= width {
            lines.append((TextWidth.pad(label, to: Self.labelColumns) + value, style))
        } else {
            lines.append((label, style))
            wrapped(value, indent: 2, style, words: words)
        }
    }

    /// A timestamp field: in full (microseconds) on one line when it fits, else to the millisecond, else in full on
    /// the line below the label.
    mutating func time(_ label: String, _ date: Date?) {
        guard let date else { return field(label, "—") }
        let full = WireDate.format(date, style: .zulu)
        let milliseconds = Self.milliseconds(full)
        if Self.labelColumns + TextWidth.columns(of: milliseconds) <= width, Self.labelColumns + full.count > width {
            return field(label, milliseconds)
        }
        field(label, full)
    }

    /// The status history. Each entry's time comes first, so a narrow pane cuts the status word, never the time:
    /// full timestamps when they fit, else to the millisecond, else the time of day under a heading with the date.
    mutating func history(_ entries: [(status: DisplayStatus, at: Date)]) {
        let longest = entries.map { 3 + TextWidth.columns(of: theme.glyph($0.status)) + $0.status.rawValue.count }.max() ?? 0
        let stamps = entries.map { WireDate.format($0.at, style: .zulu) }
        let dates = Set(stamps.map { $0.prefix(10) })
        let format: (String) -> String
        var heading = "history"
        if 2 + 27 + longest <= width {
            format = { $0 }
        } else if 2 + 24 + longest <= width || dates.count > 1 {
            format = Self.milliseconds
        } else {
            heading += " " + (dates.first.map(String.init) ?? "")
            format = { String($0.dropFirst(11)) }
        }
        lines.append((heading, theme.accent))
        for (entry, stamp) in zip(entries, stamps) {
            let text = "  " + format(stamp) + " " + theme.glyph(entry.status) + " " + entry.status.rawValue
            lines.append((text, theme.style(entry.status)))
        }
    }

    /// `text` cut into lines of at most the pane's width: the first starts `indent` columns in, the others
    /// `continuation` columns in (by default the same). With `words`, lines break after a space where there is one
    /// (prose); otherwise exactly at the edge (ids and keys, so that the pieces join up again).
    mutating func wrapped(
        _ text: String, indent: Int, continuation: Int? = nil, _ style: CellStyle = .plain, words: Bool = false
    ) {
        var rest = Substring(text)
        var pad = indent
        while true {
            let room = max(1, width - pad)
            if TextWidth.columns(of: rest) <= room {
                lines.append((String(repeating: " ", count: pad) + rest, style))
                return
            }
            var end = rest.startIndex
            var used = 0
            for index in rest.indices {
                used += TextWidth.columns(of: rest[index])
                if used > room { break }
                end = rest.index(after: index)
            }
            if end == rest.startIndex { end = rest.index(after: end) }
            if words, let space = rest[..<end].lastIndex(of: " "), space > rest.startIndex { end = rest.index(after: space) }
            var piece = rest[..<end]
            while piece.last == " " { piece = piece.dropLast() }
            lines.append((String(repeating: " ", count: pad) + piece, style))
            rest = rest[end...].drop { $0 == " " }
            pad = continuation ?? indent
        }
    }

    /// A wire timestamp (`…:02.000000Z`) to the millisecond (`…:02.000Z`).
    static func milliseconds(_ stamp: String) -> String {
        guard stamp.count == 27 else { return stamp }
        return String(stamp.prefix(23)) + "Z"
    }
}
