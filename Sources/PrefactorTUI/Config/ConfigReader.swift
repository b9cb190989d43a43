import Foundation
import Yams

/// Reads the YAML of a config file into a ``TUIConfig``, collecting every problem with its line and key instead of
/// stopping at the first. Yams parses; this checks the shape: known keys, the right types, known actions, key names
/// and colours, numbers in range.
struct ConfigReader {
    private(set) var problems: [ConfigProblem] = []

    static let topKeys = ["theme", "keys", "mouse", "poll-interval", "age-out", "prices", "export-directory"]
    static let themeKeys = ["ascii", "color", "colors"]
    static let priceKeys = ["input-per-million", "output-per-million"]

    mutating func read(_ text: String) -> TUIConfig {
        var config = TUIConfig()
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            problems.append(Self.problem(from: error))
            return config
        }
        guard let root else { return config }  // empty, or only comments
        guard let top = mapping(root, path: nil) else { return config }
        for (keyNode, value) in top {
            guard let key = name(of: keyNode, in: nil) else { continue }
            switch key {
            case "theme": readTheme(value, into: &config)
            case "keys": readKeys(value, into: &config)
            case "mouse": bool(value, path: key).map { config.mouse = $0 }
            case "poll-interval":
                config.pollInterval = number(value, path: key, range: 0.1...3600, unit: "seconds")
            case "age-out":
                config.ageOut = number(value, path: key, range: 0.01...525_600, unit: "minutes")
            case "prices": readPrices(value, into: &config)
            case "export-directory":
                if let text = string(value, path: key) {
                    if text.isEmpty {
                        report(value, key, "must not be empty (leave it out for the current directory)")
                    } else {
                        config.exportDirectory = (text as NSString).expandingTildeInPath
                    }
                }
            default: unknown(keyNode, key, path: nil, expected: Self.topKeys)
            }
        }
        return config
    }

    // MARK: Sections

    private mutating func readTheme(_ node: Node, into config: inout TUIConfig) {
        guard let section = mapping(node, path: "theme") else { return }
        for (keyNode, value) in section {
            guard let key = name(of: keyNode, in: "theme") else { continue }
            let path = "theme." + key
            switch key {
            case "ascii": config.ascii = bool(value, path: path)
            case "color": config.color = bool(value, path: path)
            case "colors":
                guard let colors = mapping(value, path: path) else { continue }
                for (roleNode, colorNode) in colors {
                    guard let role = name(of: roleNode, in: path) else { continue }
                    guard ThemePalette.roles.contains(role) else {
                        unknown(roleNode, role, path: path, expected: ThemePalette.roles)
                        continue
                    }
                    guard let text = string(colorNode, path: path + "." + role) else { continue }
                    guard let color = TerminalColor(name: text) else {
                        report(
                            colorNode, path + "." + role,
                            "unknown colour \"\(text)\"; use one of: "
                                + TerminalColor.allCases.map(\.name).joined(separator: ", "))
                        continue
                    }
                    config.palette[role: role] = color
                }
            default: unknown(keyNode, key, path: "theme", expected: Self.themeKeys)
            }
        }
    }

    private mutating func readKeys(_ node: Node, into config: inout TUIConfig) {
        guard let section = mapping(node, path: "keys") else { return }
        var overrides: [KeyAction: [Key]] = [:]
        var lines: [KeyAction: Node] = [:]
        for (keyNode, value) in section {
            guard let name = name(of: keyNode, in: "keys") else { continue }
            guard let action = KeyAction(rawValue: name) else {
                unknown(
                    keyNode, name, path: "keys", expected: KeyAction.allCases.map(\.rawValue), noun: "action",
                    listHint: "`prefactor config keys` lists them")
                continue
            }
            let path = "keys." + name
            let items: [Node]
            switch value {
            case .sequence(let sequence): items = Array(sequence)
            case .scalar: items = [value]
            default:
                report(value, path, "expected a key or a list of keys, found \(Self.describe(value))")
                continue
            }
            var keys: [Key] = []
            var valid = true
            for item in items {
                guard let text = string(item, path: path) else {
                    valid = false
                    continue
                }
                do throws(KeyNameError) {
                    if let key = try KeyName.parse(text) {
                        if !keys.contains(key) { keys.append(key) }
                    } else if items.count > 1 {
                        report(item, path, "\(KeyName.disabled) stands alone: write `\(name): \"\(KeyName.disabled)\"`")
                        valid = false
                    }
                } catch {
                    report(item, path, "\"\(error.text)\" \(error.reason)")
                    valid = false
                }
            }
            if valid {
                overrides[action] = keys
                lines[action] = keyNode
            }
        }
        do throws(KeyConflict) {
            config.keyMap = try KeyMap(overriding: overrides)
        } catch {
            // Point at the line of an action the file set (the one that took the key).
            let action = error.secondOverridden ? error.second : error.first
            report(lines[action] ?? node, "keys." + action.rawValue, error.message)
        }
    }

    private mutating func readPrices(_ node: Node, into config: inout TUIConfig) {
        guard let section = mapping(node, path: "prices") else { return }
        var seen: [String: String] = [:]
        for (modelNode, value) in section {
            guard let model = name(of: modelNode, in: "prices") else { continue }
            let path = "prices." + model
            if let other = seen[model.lowercased()] {
                report(modelNode, path, "the same model as \(other) (names compare ignoring case)")
                continue
            }
            seen[model.lowercased()] = model
            guard let fields = mapping(value, path: path) else { continue }
            var input: Double?
            var output: Double?
            var given = Set<String>()
            for (fieldNode, amount) in fields {
                guard let field = name(of: fieldNode, in: path) else { continue }
                given.insert(field)
                switch field {
                case "input-per-million": input = number(amount, path: path + "." + field, range: 0...1_000_000, unit: nil)
                case "output-per-million": output = number(amount, path: path + "." + field, range: 0...1_000_000, unit: nil)
                default: unknown(fieldNode, field, path: path, expected: Self.priceKeys)
                }
            }
            let missing = Self.priceKeys.filter { !given.contains($0) }
            if !missing.isEmpty, given.isSubset(of: Self.priceKeys) {
                report(value, path, "needs " + missing.joined(separator: " and ") + " (a price per million tokens)")
            }
            if let input, let output {
                config.prices.models[model] = TokenPrice(inputPerMillion: input, outputPerMillion: output)
            }
        }
    }

    // MARK: Values

    private mutating func mapping(_ node: Node, path: String?) -> Node.Mapping? {
        if case .mapping(let mapping) = node { return mapping }
        if path == nil, case .scalar(let scalar) = node, Self.type(of: scalar) == .null { return Node.Mapping([]) }
        report(node, path, "expected a mapping (`key: value` lines), found \(Self.describe(node))")
        return nil
    }

    private mutating func name(of node: Node, in path: String?) -> String? {
        guard case .scalar(let scalar) = node else {
            report(node, path, "a key must be a plain name, found \(Self.describe(node))")
            return nil
        }
        return scalar.string
    }

    private mutating func bool(_ node: Node, path: String) -> Bool? {
        if case .scalar(let scalar) = node, Self.type(of: scalar) == .bool, let value = node.bool { return value }
        report(node, path, "expected true or false, found \(Self.describe(node))")
        return nil
    }

    private mutating func number(_ node: Node, path: String, range: ClosedRange<Double>, unit: String?) -> Double? {
        guard case .scalar(let scalar) = node, Self.type(of: scalar) == .int || Self.type(of: scalar) == .float,
            let value = Double(scalar.string), value.isFinite
        else {
            report(node, path, "expected a number\(unit.map { " of " + $0 } ?? ""), found \(Self.describe(node))")
            return nil
        }
        guard range.contains(value) else {
            let bounds = "from \(Self.format(range.lowerBound)) to \(Self.format(range.upperBound))"
            report(node, path, "must be \(bounds)\(unit.map { " " + $0 } ?? ""), found \(scalar.string)")
            return nil
        }
        return value
    }

    private mutating func string(_ node: Node, path: String) -> String? {
        // Plain numbers and words such as `yes` resolve to other types; as text they are what was written.
        guard case .scalar(let scalar) = node, Self.type(of: scalar) != .null else {
            report(node, path, "expected text, found \(Self.describe(node))")
            return nil
        }
        return scalar.string
    }

    // MARK: Problems

    private mutating func report(_ node: Node, _ path: String?, _ message: String) {
        problems.append(ConfigProblem(line: node.mark?.line, column: node.mark?.column, key: path, message: message))
    }

    private mutating func unknown(
        _ node: Node, _ name: String, path: String?, expected: [String], noun: String = "key", listHint: String? = nil
    ) {
        let full = path.map { $0 + "." + name } ?? name
        var message = "unknown \(noun) \"\(name)\""
        if let close = Self.closest(to: name, in: expected) { message += "; did you mean \(close)?" }
        message += " " + (listHint.map { "(\($0))" } ?? "(expected one of: " + expected.joined(separator: ", ") + ")")
        report(node, full, message)
    }

    static func describe(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            switch type(of: scalar) {
            case .null: return "nothing"
            case .bool: return "\(scalar.string) (true/false)"
            case .int, .float: return "the number \(scalar.string)"
            default: return "\"\(scalar.string)\""
            }
        }
    }

    /// The type YAML resolves a scalar to (`!!int`, `!!str`...): quoted and block text is text; a plain scalar is
    /// what it looks like (`true`, `1.5`, `~`).
    static func type(of scalar: Node.Scalar) -> Tag.Name {
        switch scalar.style {
        case .plain, .any: return Resolver.default.resolveTag(of: Node.scalar(scalar))
        default: return .str
        }
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    /// The expected name nearest a misspelt one (at most two edits away).
    static func closest(to name: String, in candidates: [String]) -> String? {
        let scored = candidates.map { ($0, distance(name.lowercased(), $0)) }.filter { $0.1 <= 2 }
        return scored.min { $0.1 < $1.1 }?.0
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    /// A YAML syntax error, with its place.
    static func problem(from error: any Error) -> ConfigProblem {
        guard let error = error as? YamlError else { return ConfigProblem(message: "not valid YAML: \(error)") }
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let text = [context.map { "\($0.text)" }, problem].compactMap { $0 }.joined(separator: ": ")
            return ConfigProblem(line: mark.line, column: mark.column, message: "not valid YAML: \(text)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return ConfigProblem(
                line: context.mark.line, column: context.mark.column,
                message: "a key is given twice: " + duplicates.joined(separator: ", "))
        default:
            return ConfigProblem(message: "not valid YAML: \(error)")
        }
    }
}
