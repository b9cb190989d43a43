import ArgumentParser
import Foundation
import PrefactorTUI

/// `prefactor config`: the terminal UI's config file.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check the terminal UI's config file, print an example, or list the key actions.",
        discussion: """
            The config file is YAML: $PREFACTOR_CONFIG, else $XDG_CONFIG_HOME/prefactor/config.yml (~/.config/prefactor/config.yml). It sets the theme, key bindings, mouse, poll interval, age-out, export directory and LLM prices; see docs/config.md.
            """,
        subcommands: [Check.self, Example.self, Keys.self])

    /// `prefactor config check [FILE]`.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Check a config file: exits 0 when the UI can use it, else 1 with every problem, each with its line and key.")

        @Argument(help: ArgumentHelp("The file (default: the one the UI reads).", valueName: "FILE"))
        var file: String?

        func run() throws {
            let path = file ?? TUIConfig.defaultPath(environment: ProcessInfo.processInfo.environment)
            do {
                let config = try TUIConfig.load(path: path, required: true)
                printFlushed("\(path): OK (\(Self.summary(config)))")
            } catch {
                printError(error.description)
                let count = error.problems.count
                printError("\(path): \(count) problem\(count == 1 ? "" : "s"); the UI will not start with this file")
                throw ExitCode.failure
            }
        }

        static func summary(_ config: TUIConfig) -> String {
            let changed = config.keyMap.changedActions
            let keys =
                changed.isEmpty ? "default keys" : "keys changed: " + changed.map(\.rawValue).joined(separator: ", ")
            let prices = "\(config.prices.models.count) model price\(config.prices.models.count == 1 ? "" : "s")"
            return [keys, prices, "mouse \(config.mouse ? "on" : "off")"].joined(separator: "; ")
        }
    }

    /// `prefactor config example`.
    struct Example: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a complete, commented config file with the defaults.",
            discussion: "prefactor config example > ~/.config/prefactor/config.yml")

        func run() {
            print(TUIConfig.exampleText, terminator: "")
        }
    }

    /// `prefactor config keys [FILE]`.
    struct Keys: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List every key action with its keys (as a config file sets them, or the defaults).")

        @Argument(help: ArgumentHelp("A config file whose keys to show (default: the defaults).", valueName: "FILE"))
        var file: String?

        func run() throws {
            var keyMap = KeyMap.default
            if let file {
                do { keyMap = try TUIConfig.load(path: file, required: true).keyMap } catch {
                    printError(error.description)
                    throw ExitCode.failure
                }
            }
            for action in KeyAction.allCases {
                let keys = keyMap.keys(for: action)
                let written = keys.isEmpty ? KeyName.disabled : keys.map(KeyName.describe).joined(separator: " ")
                let name = action.rawValue.padding(toLength: 15, withPad: " ", startingAt: 0)
                let column = written.padding(toLength: 18, withPad: " ", startingAt: 0)
                print("\(name) \(column) \(action.summary)")
            }
        }
    }
}
