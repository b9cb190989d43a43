import Foundation

/// A terminal that can put text on the clipboard (the ncurses backend does it with OSC 52).
public protocol ClipboardBackend: Sendable {
    /// Puts text on the clipboard.
    func copyToClipboard(_ text: String)
}

/// The OSC 52 escape sequence: "set the clipboard to this base64 text". Terminals that support it (xterm, kitty,
/// iTerm2, WezTerm, Windows Terminal, foot; tmux with `set-clipboard on`) copy the text, also over ssh; the others
/// ignore it.
public enum OSC52 {
    /// The most text sent (some terminals drop longer sequences); longer text is cut at a character boundary.
    public static let maximumBytes = 100_000

    /// The sequence that copies `text` to the clipboard (`c`), ended by BEL.
    public static func sequence(for text: String) -> String {
        var bytes = Array(text.utf8)
        if bytes.count > maximumBytes {
            var end = maximumBytes
            // Do not cut a UTF-8 sequence: step back over continuation bytes.
            while end > 0, bytes[end] & 0xC0 == 0x80 { end -= 1 }
            bytes = Array(bytes[..<end])
        }
        return "\u{1B}]52;c;" + Data(bytes).base64EncodedString() + "\u{07}"
    }
}
