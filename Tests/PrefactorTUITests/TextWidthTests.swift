import PrefactorCore
import PrefactorTUI
import Testing

@Suite("TextWidth")
struct TextWidthTests {
    @Test func asciiIsOneColumnEach() {
        #expect(TextWidth.columns(of: "") == 0)
        #expect(TextWidth.columns(of: "hello") == 5)
        #expect(TextWidth.columns(of: "a b~") == 4)
    }

    @Test func wideCharactersTakeTwoColumns() {
        #expect(TextWidth.columns(of: "漢字") == 4)
        #expect(TextWidth.columns(of: Character("漢")) == 2)
        #expect(TextWidth.columns(of: "🎉") == 2)
        #expect(TextWidth.columns(of: "한국어") == 6)
        #expect(TextWidth.columns(of: "ｶﾀｶﾅ") == 4, "halfwidth katakana is narrow")
        #expect(TextWidth.columns(of: "ＡＢ") == 4, "fullwidth Latin is wide")
        #expect(TextWidth.columns(of: "a漢🎉b") == 6)
    }

    @Test func emojiSequencesAreOneWideCell() {
        #expect(TextWidth.columns(of: "👩‍💻") == 2, "ZWJ sequence")
        #expect(TextWidth.columns(of: "👍🏽") == 2, "skin tone modifier")
        #expect(TextWidth.columns(of: "🇫🇷") == 2, "flag")
        #expect(TextWidth.columns(of: "❤️") == 2, "text symbol with emoji presentation selector")
        #expect(TextWidth.columns(of: "❤") == 1, "text presentation")
    }

    @Test func zeroWidthCharacters() {
        #expect(TextWidth.columns(of: "e\u{301}") == 1, "e + combining acute")
        #expect(TextWidth.columns(of: "e\u{301}\u{323}") == 1, "two combining marks")
        #expect(TextWidth.columns(of: Unicode.Scalar(0x301)!) == 0)
        #expect(TextWidth.columns(of: Unicode.Scalar(0x200B)!) == 0, "zero width space")
        #expect(TextWidth.columns(of: Unicode.Scalar(0x200D)!) == 0, "zero width joiner")
        #expect(TextWidth.columns(of: Unicode.Scalar(0x1B)!) == 0, "escape")
        #expect(TextWidth.columns(of: Unicode.Scalar(0x7F)!) == 0, "delete")
        #expect(TextWidth.columns(of: Unicode.Scalar(0x85)!) == 0, "C1 control")
        #expect(TextWidth.columns(of: "a\u{200B}b") == 2)
        #expect(TextWidth.columns(of: "cafe\u{301}") == 4)
        #expect("cafe\u{301}".count == 4 && "cafe\u{301}".unicodeScalars.count == 5)
    }

    @Test func boxDrawingAndGlyphsAreNarrow() {
        for glyph in ["◌", "○", "●", "✓", "✗", "⊘", "■", "▾", "▸", "│", "━", "·", "…", "▁", "█"] {
            #expect(TextWidth.columns(of: glyph) == 1, "\(glyph)")
        }
    }

    @Test func truncateAddsEllipsisWithinWidth() {
        #expect(TextWidth.truncate("hello", to: 10) == "hello")
        #expect(TextWidth.truncate("hello", to: 5) == "hello")
        #expect(TextWidth.truncate("hello world", to: 5) == "hell…")
        #expect(TextWidth.truncate("hello", to: 1) == "…")
        #expect(TextWidth.truncate("hello", to: 0) == "")
        #expect(TextWidth.truncate("hello", to: -3) == "")
        // A wide character that does not fit before the ellipsis is dropped whole.
        #expect(TextWidth.truncate("漢字漢字", to: 5) == "漢字…")
        #expect(TextWidth.truncate("漢字漢字", to: 4) == "漢…")
        #expect(TextWidth.truncate("🎉🎉🎉", to: 4) == "🎉…")
        // Combining marks stay with their letter.
        #expect(TextWidth.truncate("e\u{301}e\u{301}e\u{301}e\u{301}", to: 3) == "e\u{301}e\u{301}…")
        for width in 0..<12 {
            for text in ["漢字 mixed 🎉 e\u{301}", "plain ascii text", "🎉🎉🎉🎉🎉🎉"] {
                #expect(TextWidth.columns(of: TextWidth.truncate(text, to: width)) <= width)
            }
        }
    }

    @Test func padGivesExactWidth() {
        #expect(TextWidth.pad("ab", to: 4) == "ab  ")
        #expect(TextWidth.pad("abcdef", to: 4) == "abc…")
        #expect(TextWidth.pad("漢", to: 4) == "漢  ")
        #expect(TextWidth.pad("漢字漢", to: 5) == "漢字…")
        #expect(TextWidth.pad("漢字漢字", to: 4) == "漢… ")
        #expect(TextWidth.pad("e\u{301}", to: 3) == "e\u{301}  ")
        for width in 0..<10 {
            for text in ["漢字 mixed 🎉", "é\u{301}tude", ""] {
                #expect(TextWidth.columns(of: TextWidth.pad(text, to: width)) == width, "\(text) to \(width)")
            }
        }
    }
}

@Suite("CellBuffer")
struct CellBufferTests {
    @Test func writeReturnsTheNextColumnAndClips() {
        var buffer = CellBuffer(width: 10, height: 2)
        #expect(buffer.write("abc", row: 0, column: 2) == 5)
        #expect(buffer.write("0123456789ABC", row: 1, column: 0) == 10)
        #expect(buffer.plainText() == "  abc\n0123456789")
        #expect(buffer.write("xyz", row: 0, column: 0, maxColumns: 2) == 2)
        #expect(buffer.plainText().hasPrefix("xyabc"))
        // Outside the buffer: nothing happens.
        #expect(buffer.write("nope", row: 5, column: 0) == 0)
        #expect(buffer.write("nope", row: -1, column: 3) == 3)
    }

    @Test func wideCharactersCoverTwoCells() {
        var buffer = CellBuffer(width: 6, height: 1)
        #expect(buffer.write("漢🎉x", row: 0, column: 0) == 5)
        #expect(buffer[0, 0].text == "漢")
        #expect(buffer[0, 1].text == "")
        #expect(buffer[0, 2].text == "🎉")
        #expect(buffer[0, 3].text == "")
        #expect(buffer[0, 4].text == "x")
        #expect(buffer.plainText() == "漢🎉x")
        #expect(buffer.styleMap() == ".....")
    }

    @Test func aWideCharacterThatDoesNotFitIsNotDrawn() {
        var buffer = CellBuffer(width: 5, height: 1)
        #expect(buffer.write("ab漢字", row: 0, column: 0) == 4)
        #expect(buffer.plainText() == "ab漢")
        #expect(buffer[0, 4].text == " ")
        var clipped = CellBuffer(width: 10, height: 1)
        #expect(clipped.write("漢字", row: 0, column: 0, maxColumns: 3) == 2)
        #expect(clipped.plainText() == "漢")
    }

    @Test func combiningMarksJoinTheirCell() {
        var buffer = CellBuffer(width: 8, height: 1)
        #expect(buffer.write("cafe\u{301}!", row: 0, column: 0) == 5)
        #expect(buffer[0, 3].text == "e\u{301}")
        #expect(buffer[0, 4].text == "!")
        // A zero-width character of its own joins the cell before it; after a wide character, its first cell.
        var wide = CellBuffer(width: 8, height: 1)
        #expect(wide.write("漢\u{200B}b", row: 0, column: 0) == 3)
        #expect(wide[0, 0].text == "漢\u{200B}")
        #expect(wide[0, 1].text == "")
        #expect(wide[0, 2].text == "b")
        #expect(TextWidth.columns(of: wide.plainText()) == 3)
    }

    @Test func controlsAreNotDrawn() {
        var buffer = CellBuffer(width: 12, height: 1)
        #expect(buffer.write("a\tb\nc\u{1B}[31md", row: 0, column: 0) == 10)
        #expect(buffer.plainText() == "a b c[31md")
        #expect(!buffer.plainText().contains("\u{1B}"))
    }

    @Test func overwritingHalfAWideCharacterBlanksTheOtherHalf() {
        // The second half.
        var buffer = CellBuffer(width: 6, height: 1)
        buffer.write("漢字", row: 0, column: 0)
        buffer.write("…", row: 0, column: 1)
        #expect(buffer.plainText() == " …字")
        #expect(TextWidth.columns(of: buffer.plainText()) == 4)
        // The first half.
        var first = CellBuffer(width: 6, height: 1)
        first.write("漢字", row: 0, column: 0)
        first.write("x", row: 0, column: 2)
        #expect(first.plainText() == "漢x")
        #expect(first[0, 3].text == " ")
        // A wide character over two halves of two others.
        var straddle = CellBuffer(width: 6, height: 1)
        straddle.write("漢字", row: 0, column: 0)
        straddle.write("🎉", row: 0, column: 1)
        #expect(straddle.plainText() == " 🎉")
        #expect(TextWidth.columns(of: straddle.plainText()) == 3)
        // A fill that starts on a second half.
        var filled = CellBuffer(width: 6, height: 1)
        filled.write("漢字|", row: 0, column: 0)
        filled.fill(row: 0, from: 1, to: 2, style: .plain)
        #expect(filled.plainText() == "  字|")
        for row in [buffer, first, straddle, filled] {
            for column in 0..<row.width where row[0, column].text.isEmpty {
                #expect(column > 0 && TextWidth.columns(of: row[0, column - 1].text) == 2)
            }
        }
    }

    @Test func fillAndRestyle() {
        var buffer = CellBuffer(width: 6, height: 2)
        buffer.write("abcdef", row: 0, column: 0, style: CellStyle(foreground: .green))
        buffer.fill(row: 0, from: 4, to: 10, style: CellStyle(foreground: .red))
        #expect(buffer.plainText() == "abcd\n")
        buffer.restyle(row: 0, from: 0, to: 2) { $0.bold = true }
        #expect(buffer.styleMap() == "GGgg\n")
        buffer.restyle(row: 1, from: 0, to: 3) { $0.reverse = true }
        #expect(buffer.styleMap() == "GGgg\n###", "reverse blanks show in the style map")
        buffer.fill(row: 9, from: 0, to: 3, style: .plain)
        buffer.fill(row: 1, from: 4, to: 2, style: .plain)
    }

    @Test func styleLetters() {
        #expect(CellStyle.plain.letter == ".")
        #expect(CellStyle(dim: true).letter == ",")
        #expect(CellStyle(bold: true).letter == "*")
        #expect(CellStyle(foreground: .cyan).letter == "c")
        #expect(CellStyle(foreground: .red, bold: true).letter == "R")
        #expect(CellStyle(foreground: .yellow).letter == "y")
        #expect(CellStyle(foreground: .magenta).letter == "m")
        #expect(CellStyle(foreground: .green).letter == "g")
        #expect(CellStyle(foreground: .blue, bold: true).letter == "B")
        #expect(CellStyle(foreground: .green, reverse: true).letter == "#")
    }

    @Test func theThemeMatchesTheGlyphTable() {
        let unicode = Theme()
        let ascii = Theme(unicode: false)
        let table: [(DisplayStatus, String, String, Character)] = [
            (.prepared, "◌", ".", ","), (.pending, "○", "o", "."), (.active, "●", "*", "c"), (.complete, "✓", "+", "g"),
            (.failed, "✗", "x", "R"), (.cancelled, "⊘", "-", "y"), (.terminated, "■", "#", "m"),
        ]
        for (status, glyph, asciiGlyph, letter) in table {
            #expect(unicode.glyph(status) == glyph)
            #expect(ascii.glyph(status) == asciiGlyph)
            #expect(unicode.style(status).letter == letter, "\(status)")
            #expect(Theme(color: false).style(status).foreground == .default)
        }
        #expect(Theme.fromEnvironment(["LANG": "C.UTF-8"]) == Theme(unicode: true, color: true))
        #expect(Theme.fromEnvironment(["LANG": "C.UTF-8", "NO_COLOR": "1"]) == Theme(unicode: true, color: false))
        #expect(Theme.fromEnvironment(["LANG": "C"]) == Theme(unicode: false, color: true))
        #expect(Theme.fromEnvironment(["LC_ALL": "en_US.utf8"], forceASCII: true) == Theme(unicode: false, color: true))
    }

    @Test func ansiTextUsesSGR() {
        var buffer = CellBuffer(width: 3, height: 1)
        buffer.write("✓", row: 0, column: 0, style: CellStyle(foreground: .green))
        buffer.write("x", row: 0, column: 1, style: CellStyle(foreground: .red, bold: true))
        #expect(buffer.ansiText() == "\u{1B}[0;32m✓\u{1B}[0;1;31mx\u{1B}[0m \u{1B}[0m\n")
    }
}
