/// A colour of the 16-colour ANSI palette, or the terminal's default.
public enum TerminalColor: Int, Sendable, Hashable, CaseIterable {
    case `default` = -1
    case black = 0, red, green, yellow, blue, magenta, cyan, white
}

/// How one cell is drawn.
public struct CellStyle: Sendable, Hashable {
    /// Foreground colour.
    public var foreground: TerminalColor
    /// Background colour.
    public var background: TerminalColor
    /// Bold.
    public var bold: Bool
    /// Dim.
    public var dim: Bool
    /// Reverse video (the selection).
    public var reverse: Bool
    /// Underline.
    public var underline: Bool

    /// Creates a style.
    public init(
        foreground: TerminalColor = .default, background: TerminalColor = .default, bold: Bool = false, dim: Bool = false,
        reverse: Bool = false, underline: Bool = false
    ) {
        self.foreground = foreground
        self.background = background
        self.bold = bold
        self.dim = dim
        self.reverse = reverse
        self.underline = underline
    }

    /// The terminal's default look.
    public static let plain = CellStyle()

    /// One letter naming the style, for golden style maps: the colour's initial (`r`ed, `g`reen, `y`ellow,
    /// `b`lue, `m`agenta, `c`yan, `w`hite, `k` black, `.` default), upper case when bold, `~` suffix-free.
    public var letter: Character {
        var letter: Character
        switch foreground {
        case .default: letter = dim ? "," : "."
        case .black: letter = "k"
        case .red: letter = "r"
        case .green: letter = "g"
        case .yellow: letter = "y"
        case .blue: letter = "b"
        case .magenta: letter = "m"
        case .cyan: letter = "c"
        case .white: letter = "w"
        }
        if reverse { return "#" }
        if bold, let upper = letter.uppercased().first, upper != letter { letter = upper }
        if bold && foreground == .default { letter = "*" }
        return letter
    }
}

/// One screen cell: a grapheme (or empty for the second column of a wide one) and its style.
public struct Cell: Sendable, Hashable {
    /// The text drawn in this cell; `""` for the cell covered by a wide character to its left.
    public var text: String
    /// The style.
    public var style: CellStyle

    /// A blank cell.
    public static let blank = Cell(text: " ", style: .plain)
}

/// A grid of cells: what one frame of the UI looks like, independent of any terminal.
public struct CellBuffer: Sendable, Hashable {
    /// Columns.
    public let width: Int
    /// Rows.
    public let height: Int
    /// Cells, row by row.
    public private(set) var cells: [Cell]

    /// Creates a blank buffer.
    public init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        self.cells = Array(repeating: .blank, count: self.width * self.height)
    }

    /// The cell at a position.
    public subscript(row: Int, column: Int) -> Cell {
        cells[row * width + column]
    }

    /// Writes text at a position, clipped to `maxColumns` (and the buffer), measuring by terminal columns.
    ///
    /// - Returns: The column after the last one written.
    @discardableResult
    public mutating func write(_ text: String, row: Int, column: Int, style: CellStyle = .plain, maxColumns: Int? = nil) -> Int {
        guard row >= 0, row < height else { return column }
        let limit = min(width, column + (maxColumns ?? width))
        var x = column
        for character in text {
            var cost = TextWidth.columns(of: character)
            var drawn = String(character)
            if character == "\t" || character == "\n" || character == "\r" {
                drawn = " "
                cost = 1
            }
            if cost == 0 {
                // A combining mark or control: attach a visible mark to the previous cell, drop controls.
                if x > column, x - 1 < width, character.unicodeScalars.allSatisfy({ $0.value >= 0x20 }) {
                    // The previous character's first cell (the one left of a wide character's second half).
                    let target = x - 1 > 0 && cells[row * width + x - 1].text.isEmpty ? x - 2 : x - 1
                    cells[row * width + target].text.append(character)
                }
                continue
            }
            guard x + cost <= limit else { break }
            if x >= 0 {
                clearWideOverlap(row: row, column: x)
                if cost == 2 { clearWideOverlap(row: row, column: x + 1) }
                cells[row * width + x] = Cell(text: drawn, style: style)
                if cost == 2 { cells[row * width + x + 1] = Cell(text: "", style: style) }
            }
            x += cost
        }
        return x
    }

    /// Before a cell is overwritten: a wide character it is half of loses its other half too (drawn as a space), so
    /// no row ever holds half a wide character and columns stay aligned.
    private mutating func clearWideOverlap(row: Int, column x: Int) {
        guard x >= 0, x < width else { return }
        let index = row * width + x
        if cells[index].text.isEmpty, x > 0 {
            cells[index - 1].text = " "
        } else if x + 1 < width, cells[index + 1].text.isEmpty, TextWidth.columns(of: cells[index].text) == 2 {
            cells[index + 1].text = " "
        }
    }

    /// Fills part of a row with spaces in a style.
    public mutating func fill(row: Int, from column: Int, to end: Int, style: CellStyle) {
        guard row >= 0, row < height else { return }
        let range = max(0, column)..<min(width, max(column, end))
        if let first = range.first, let last = range.last {
            clearWideOverlap(row: row, column: first)
            clearWideOverlap(row: row, column: last)
        }
        for x in range {
            cells[row * width + x] = Cell(text: " ", style: style)
        }
    }

    /// Applies a style to existing cells of a row (keeping their text).
    public mutating func restyle(row: Int, from column: Int, to end: Int, _ change: (inout CellStyle) -> Void) {
        guard row >= 0, row < height else { return }
        for x in max(0, column)..<min(width, max(column, end)) {
            change(&cells[row * width + x].style)
        }
    }

    /// The frame as text, one line per row, trailing spaces removed.
    public func plainText() -> String {
        (0..<height).map { row in
            var line = ""
            for x in 0..<width { line += cells[row * width + x].text }
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }.joined(separator: "\n")
    }

    /// A parallel grid of style letters (see ``CellStyle/letter``), for golden tests of colours.
    public func styleMap() -> String {
        (0..<height).map { row in
            var line = ""
            for x in 0..<width {
                let cell = cells[row * width + x]
                line.append(cell.text == " " && !cell.style.reverse ? " " : cell.style.letter)
            }
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }.joined(separator: "\n")
    }

    /// The frame as text with ANSI SGR escapes, for `--render` output on a colour terminal.
    public func ansiText() -> String {
        var output = ""
        var current = CellStyle.plain
        for row in 0..<height {
            for x in 0..<width {
                let cell = cells[row * width + x]
                if cell.style != current {
                    output += Self.sgr(cell.style)
                    current = cell.style
                }
                output += cell.text
            }
            output += "\u{1B}[0m\n"
            current = .plain
        }
        return output
    }

    static func sgr(_ style: CellStyle) -> String {
        var codes = ["0"]
        if style.bold { codes.append("1") }
        if style.dim { codes.append("2") }
        if style.underline { codes.append("4") }
        if style.reverse { codes.append("7") }
        if style.foreground != .default { codes.append(String(30 + style.foreground.rawValue)) }
        if style.background != .default { codes.append(String(40 + style.background.rawValue)) }
        return "\u{1B}[" + codes.joined(separator: ";") + "m"
    }
}

extension CellBuffer {
    /// The ASCII form of the glyphs the UI draws; any other character becomes `?` (one per column it covered).
    static let asciiForms: [String: String] = [
        "…": "~", "·": ".", "—": "-", "–": "-", "×": "x", "▏": "|", "↑": "^", "↓": "v", "←": "<", "→": ">",
        "◌": ".", "○": "o", "●": "*", "✓": "+", "✗": "x", "⊘": "-", "■": "#", "▾": "v", "▸": ">", "━": "=", "│": "|",
        "┌": "+", "┐": "+", "└": "+", "┘": "+", "─": "-", "▁": "_", "▂": "_", "▃": ".", "▄": "-", "▅": "-", "▆": "=",
        "▇": "#", "█": "#", "‘": "'", "’": "'", "“": "\"", "”": "\"",
    ]

    /// Replaces every cell that is not ASCII with its ASCII form, so that a terminal without Unicode (`--ascii`,
    /// `LANG=C`) shows no garbage.
    public mutating func makeASCII() {
        for index in cells.indices {
            let text = cells[index].text
            if text.isEmpty {
                cells[index].text = "?"  // the second column of a wide character
            } else if !text.allSatisfy(\.isASCII) {
                cells[index].text = Self.asciiForms[text] ?? "?"
            }
        }
    }
}
