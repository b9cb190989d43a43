import PrefactorCore

/// Glyphs and colours (tui.md): always a glyph and a colour, never colour alone.
public struct Theme: Sendable, Hashable {
    /// Whether to draw Unicode glyphs (otherwise ASCII).
    public var unicode: Bool
    /// Whether to use colours (off for `NO_COLOR` and monochrome).
    public var color: Bool
    /// The colours, by role (the config file's `theme.colors`).
    public var palette: ThemePalette

    /// Creates a theme.
    public init(unicode: Bool = true, color: Bool = true, palette: ThemePalette = ThemePalette()) {
        self.unicode = unicode
        self.color = color
        self.palette = palette
    }

    /// The theme for an environment: `NO_COLOR` turns colours off; a non-UTF-8 locale selects ASCII glyphs.
    public static func fromEnvironment(_ environment: [String: String], forceASCII: Bool = false, forceMonochrome: Bool = false)
        -> Theme
    {
        let noColor = environment["NO_COLOR"].map { !$0.isEmpty } ?? false
        let locale = environment["LC_ALL"] ?? environment["LC_CTYPE"] ?? environment["LANG"] ?? ""
        let utf8 = locale.uppercased().contains("UTF-8") || locale.uppercased().contains("UTF8")
        return Theme(unicode: utf8 && !forceASCII, color: !noColor && !forceMonochrome)
    }

    /// The glyph of a status.
    public func glyph(_ status: DisplayStatus) -> String {
        switch (status, unicode) {
        case (.prepared, true): return "◌"
        case (.prepared, false): return "."
        case (.pending, true): return "○"
        case (.pending, false): return "o"
        case (.active, true): return "●"
        case (.active, false): return "*"
        case (.complete, true): return "✓"
        case (.complete, false): return "+"
        case (.failed, true): return "✗"
        case (.failed, false): return "x"
        case (.cancelled, true): return "⊘"
        case (.cancelled, false): return "-"
        case (.terminated, true): return "■"
        case (.terminated, false): return "#"
        case (.gone, _): return "?"
        }
    }

    /// The style of a status.
    public func style(_ status: DisplayStatus) -> CellStyle {
        guard color else {
            switch status {
            case .failed: return CellStyle(bold: true)
            case .prepared: return CellStyle(dim: true)
            default: return .plain
            }
        }
        switch status {
        case .prepared: return CellStyle(dim: true)
        case .pending: return CellStyle(foreground: palette.pending)
        case .active: return CellStyle(foreground: palette.active)
        case .complete: return CellStyle(foreground: palette.complete)
        case .failed: return CellStyle(foreground: palette.failed, bold: true)
        case .cancelled: return CellStyle(foreground: palette.cancelled)
        case .terminated: return CellStyle(foreground: palette.terminated)
        case .gone: return CellStyle(dim: true)
        }
    }

    /// Fold markers: expanded, collapsed, leaf.
    public var expandedMarker: String { unicode ? "▾" : "v" }
    /// The marker of a collapsed node.
    public var collapsedMarker: String { unicode ? "▸" : ">" }
    /// Sparkline levels, lowest first.
    public var sparkLevels: [String] { unicode ? ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"] : ["_", ".", "-", "=", "#"] }
    /// The filled and empty cells of the mini timeline bar.
    public var barCells: (filled: String, empty: String) { unicode ? ("━", "·") : ("=", ".") }
    /// A vertical separator.
    public var separator: String { unicode ? "│" : "|" }
    /// The pieces of a box border (the help overlay).
    public var box:
        (topLeft: String, topRight: String, bottomLeft: String, bottomRight: String, horizontal: String, vertical: String)
    {
        unicode ? ("┌", "┐", "└", "┘", "─", "│") : ("+", "+", "+", "+", "-", "|")
    }

    /// The style of headers and hints.
    public var accent: CellStyle { color ? CellStyle(foreground: palette.accent, bold: true) : CellStyle(bold: true) }
    /// Dim text.
    public var dim: CellStyle { CellStyle(dim: true) }
    /// The selected row.
    public var selection: CellStyle { CellStyle(reverse: true) }
    /// Warnings (retrying, too small).
    public var warning: CellStyle { color ? CellStyle(foreground: palette.warning, bold: true) : CellStyle(bold: true) }
    /// Errors.
    public var error: CellStyle { color ? CellStyle(foreground: palette.error, bold: true) : CellStyle(bold: true) }
    /// Good news.
    public var good: CellStyle { color ? CellStyle(foreground: palette.good) : .plain }
}
