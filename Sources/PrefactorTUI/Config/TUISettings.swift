/// What the terminal UI runs with, layered: the defaults, then the config file, then the environment (`NO_COLOR`,
/// the locale), then the command line. The later layer wins.
public struct TUISettings: Sendable, Hashable {
    /// Command-line flags that override the config file (`nil` or `false`: not given).
    public struct Flags: Sendable, Hashable {
        /// `--ascii`.
        public var ascii = false
        /// `--no-color`.
        public var noColor = false
        /// `--no-mouse`.
        public var noMouse = false
        /// `--poll-interval`.
        public var pollInterval: Double?
        /// `--age-out`.
        public var ageOut: Double?

        /// Creates flags (none given).
        public init(
            ascii: Bool = false, noColor: Bool = false, noMouse: Bool = false, pollInterval: Double? = nil, ageOut: Double? = nil
        ) {
            self.ascii = ascii
            self.noColor = noColor
            self.noMouse = noMouse
            self.pollInterval = pollInterval
            self.ageOut = ageOut
        }
    }

    /// Seconds between polls when nothing sets them.
    public static let defaultPollInterval = 1.0
    /// Minutes before finished runs leave the view when nothing sets them.
    public static let defaultAgeOut = 15.0

    /// The config file as read.
    public var config: TUIConfig
    /// Glyphs and colours.
    public var theme: Theme
    /// Whether the mouse is on.
    public var mouse: Bool
    /// Seconds between polls of the API when watching.
    public var pollInterval: Double
    /// Minutes after which finished runs of other processes leave the view.
    public var ageOut: Double

    /// Layers the config file, the environment and the flags over the defaults.
    public init(config: TUIConfig, environment: [String: String], flags: Flags) {
        self.config = config
        var theme = Theme.fromEnvironment(environment, forceASCII: flags.ascii, forceMonochrome: flags.noColor)
        // The file can ask for ASCII or monochrome, and for Unicode only where the locale allows it; NO_COLOR and
        // the flags still win.
        if config.ascii == true { theme.unicode = false }
        if config.color == false { theme.color = false }
        theme.palette = config.palette
        self.theme = theme
        mouse = config.mouse && !flags.noMouse
        pollInterval = flags.pollInterval ?? config.pollInterval ?? Self.defaultPollInterval
        ageOut = flags.ageOut ?? config.ageOut ?? Self.defaultAgeOut
    }
}

extension AppModel {
    /// Takes what the config file gives the model: the key bindings, and the prices (none: no cost is shown).
    public mutating func apply(_ options: TUIOptions) {
        keyMap = options.keyMap
        pricing = options.prices.isEmpty ? nil : options.prices
    }
}
