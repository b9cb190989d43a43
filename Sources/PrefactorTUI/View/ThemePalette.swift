/// The colours of a theme, by role: the config file's `theme.colors` section sets them. Colour is never the only
/// signal (every status has its glyph), so any choice stays readable.
public struct ThemePalette: Sendable, Hashable {
    /// A pending (queued) node.
    public var pending: TerminalColor = .default
    /// A running node.
    public var active: TerminalColor = .cyan
    /// A node finished as complete.
    public var complete: TerminalColor = .green
    /// A failed node.
    public var failed: TerminalColor = .red
    /// A cancelled node.
    public var cancelled: TerminalColor = .yellow
    /// A terminated run.
    public var terminated: TerminalColor = .magenta
    /// Titles, headers and key hints.
    public var accent: TerminalColor = .blue
    /// Warnings (retrying, read-only).
    public var warning: TerminalColor = .yellow
    /// Errors.
    public var error: TerminalColor = .red
    /// Good news (health ok, delivered).
    public var good: TerminalColor = .green

    /// The palette without a config file.
    public init() {}

    /// The roles as the config file names them.
    public static let roles = [
        "pending", "active", "complete", "failed", "cancelled", "terminated", "accent", "warning", "error", "good",
    ]

    /// The colour of a role by its name in the config file (`nil` for an unknown role; setting one does nothing).
    public subscript(role role: String) -> TerminalColor? {
        get {
            switch role {
            case "pending": pending
            case "active": active
            case "complete": complete
            case "failed": failed
            case "cancelled": cancelled
            case "terminated": terminated
            case "accent": accent
            case "warning": warning
            case "error": error
            case "good": good
            default: nil
            }
        }
        set {
            guard let newValue else { return }
            switch role {
            case "pending": pending = newValue
            case "active": active = newValue
            case "complete": complete = newValue
            case "failed": failed = newValue
            case "cancelled": cancelled = newValue
            case "terminated": terminated = newValue
            case "accent": accent = newValue
            case "warning": warning = newValue
            case "error": error = newValue
            case "good": good = newValue
            default: break
            }
        }
    }
}

extension TerminalColor {
    /// The colour's name in the config file.
    public var name: String {
        switch self {
        case .default: "default"
        case .black: "black"
        case .red: "red"
        case .green: "green"
        case .yellow: "yellow"
        case .blue: "blue"
        case .magenta: "magenta"
        case .cyan: "cyan"
        case .white: "white"
        }
    }

    /// The colour of a name (`default` is the terminal's own foreground).
    public init?(name: String) {
        guard let color = Self.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
        self = color
    }
}
