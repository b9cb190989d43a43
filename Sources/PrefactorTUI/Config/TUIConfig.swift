import Foundation

/// The terminal UI's settings from its config file (`$XDG_CONFIG_HOME/prefactor/config.yml`): theme, keys, mouse,
/// polling, age-out, the LLM price table and where exports go. Every field left out keeps its default; the command
/// line and the environment override the file (`--no-mouse`, `--poll-interval`, `NO_COLOR`...).
public struct TUIConfig: Sendable, Hashable {
    /// Which key does what.
    public var keyMap = KeyMap.default
    /// The colours.
    public var palette = ThemePalette()
    /// `theme.ascii`: ASCII glyphs instead of Unicode (`nil`: from the locale).
    public var ascii: Bool?
    /// `theme.color`: `false` for monochrome (`nil`: colours unless `NO_COLOR`).
    public var color: Bool?
    /// Whether the mouse selects, folds and scrolls.
    public var mouse = true
    /// Seconds between polls of the API when watching (`nil`: the command's default).
    public var pollInterval: Double?
    /// Minutes after which finished runs of other processes leave the view (`nil`: the command's default).
    public var ageOut: Double?
    /// LLM prices per model.
    public var prices = PriceTable()
    /// Where `E` writes exports (`nil`: the current directory).
    public var exportDirectory: String?

    /// The settings without a config file.
    public init() {}

    /// Where the config file is looked for: `$PREFACTOR_CONFIG`, else `config.yml` (or `config.yaml`) under
    /// `$XDG_CONFIG_HOME/prefactor` (default `~/.config/prefactor`).
    public static func defaultPath(environment: [String: String]) -> String {
        if let path = environment["PREFACTOR_CONFIG"], !path.isEmpty { return path }
        let base =
            environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.config"
        let directory = base + "/prefactor"
        let yaml = directory + "/config.yaml"
        if !FileManager.default.fileExists(atPath: directory + "/config.yml"), FileManager.default.fileExists(atPath: yaml) {
            return yaml
        }
        return directory + "/config.yml"
    }

    /// Reads a config file.
    ///
    /// - Parameters:
    ///   - path: The file.
    ///   - required: Whether a missing file is an error (a file named with `--config`), or means the defaults (the
    ///     default location).
    /// - Throws: ``ConfigError`` naming the file, and the line and key of every problem found.
    public static func load(path: String, required: Bool) throws(ConfigError) -> TUIConfig {
        guard FileManager.default.fileExists(atPath: path) else {
            if required { throw ConfigError(file: path, problems: [ConfigProblem(message: "no such file")]) }
            return TUIConfig()
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, problems: [ConfigProblem(message: "cannot be read")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, problems: [ConfigProblem(message: "is not UTF-8 text")])
        }
        return try parse(text, file: path)
    }

    /// Reads the text of a config file.
    ///
    /// - Parameters:
    ///   - text: YAML.
    ///   - file: The file's name, for messages.
    /// - Throws: ``ConfigError`` with every problem found (not only the first).
    public static func parse(_ text: String, file: String) throws(ConfigError) -> TUIConfig {
        var reader = ConfigReader()
        let config = reader.read(text)
        if !reader.problems.isEmpty { throw ConfigError(file: file, problems: reader.problems) }
        return config
    }
}

/// One thing wrong in a config file.
public struct ConfigProblem: Sendable, Hashable {
    /// The line (from 1), when known.
    public var line: Int?
    /// The column (from 1), when known.
    public var column: Int?
    /// The key's dotted path (`keys.fail`), when the problem is under one.
    public var key: String?
    /// What is wrong, and what is expected.
    public var message: String

    /// Creates a problem.
    public init(line: Int? = nil, column: Int? = nil, key: String? = nil, message: String) {
        self.line = line
        self.column = column
        self.key = key
        self.message = message
    }
}

/// A config file that cannot be used: every problem, each with its line and key.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file.
    public var file: String
    /// What is wrong, in the order of the file.
    public var problems: [ConfigProblem]

    /// Creates an error.
    public init(file: String, problems: [ConfigProblem]) {
        self.file = file
        self.problems = problems
    }

    /// One line per problem, as compilers write them: `file:line:column: key: message`.
    public var description: String {
        problems.map { problem in
            var place = file
            if let line = problem.line {
                place += ":\(line)"
                if let column = problem.column { place += ":\(column)" }
            }
            return place + ": " + (problem.key.map { $0 + ": " } ?? "") + problem.message
        }.joined(separator: "\n")
    }
}
