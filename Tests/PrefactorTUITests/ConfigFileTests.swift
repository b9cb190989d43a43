import Foundation
import PrefactorCore
import PrefactorTUI
import Testing

/// The config file: what it sets, and a clear message naming the line and key for each mistake.
@Suite("Config file")
struct ConfigFileTests {
    func parse(_ text: String) throws -> TUIConfig { try TUIConfig.parse(text, file: "config.yml") }

    /// The problems of a file that must not parse.
    func problems(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> [ConfigProblem] {
        do {
            _ = try TUIConfig.parse(text, file: "config.yml")
            Issue.record("parsed, but should not have", sourceLocation: sourceLocation)
            return []
        } catch {
            return error.problems
        }
    }

    @Test func anEmptyFileOrOnlyCommentsMeansTheDefaults() throws {
        #expect(try parse("") == TUIConfig())
        #expect(try parse("# nothing here\n\n") == TUIConfig())
    }

    @Test func theExampleIsTheDefaultsWithTwoPricesAndMatchesTheDocs() throws {
        let config = try parse(TUIConfig.exampleText)
        var expected = TUIConfig()
        expected.ascii = false
        expected.color = true
        expected.pollInterval = 1
        expected.ageOut = 15
        expected.prices = PriceTable(models: [
            "example-model": TokenPrice(inputPerMillion: 1, outputPerMillion: 2),
            "another-model": TokenPrice(inputPerMillion: 0.15, outputPerMillion: 0.6),
        ])
        #expect(config == expected)
        #expect(config.keyMap == .default)
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/config.example.yml")
        let text = try String(contentsOf: docs, encoding: .utf8)
        #expect(text == TUIConfig.exampleText, "docs/config.example.yml is TUIConfig.exampleText")
    }

    @Test func everySettingIsRead() throws {
        let config = try parse(
            """
            theme:
              ascii: true
              color: false
              colors:
                active: magenta
                accent: default
                good: White
            keys:
              new-run: N
              move-down: [j, <c-n>, <down>]
              fail: <disabled>
            mouse: false
            poll-interval: 2.5
            age-out: 60
            export-directory: /tmp/exports
            prices:
              gpt-4o-mini:
                input-per-million: 0.15
                output-per-million: 0.6
            """)
        #expect(config.ascii == true)
        #expect(config.color == false)
        #expect(config.palette.active == .magenta)
        #expect(config.palette.accent == .default)
        #expect(config.palette.good == .white)
        #expect(config.palette.failed == .red, "roles left out keep their colour")
        #expect(config.keyMap.keys(for: .newRun) == [.character("N")])
        #expect(config.keyMap.keys(for: .moveDown) == [.character("j"), .control("n"), .down])
        #expect(config.keyMap.keys(for: .fail).isEmpty)
        #expect(config.keyMap.changedActions == [.moveDown, .newRun, .fail])
        #expect(config.mouse == false)
        #expect(config.pollInterval == 2.5)
        #expect(config.ageOut == 60)
        #expect(config.exportDirectory == "/tmp/exports")
        #expect(config.prices.price(forModel: "gpt-4o-mini") == TokenPrice(inputPerMillion: 0.15, outputPerMillion: 0.6))
        #expect(config.prices.price(forModel: "GPT-4o-mini") != nil, "model names compare ignoring case")
        #expect(config.prices.price(forModel: "gpt-4o") == nil, "no price is built in")
        #expect(
            config.prices.price(forModel: "gpt-4o-mini-2024-07-18") == config.prices.price(forModel: "gpt-4o-mini"),
            "a dated model takes the price of its family")
    }

    /// Each mistake: the file, the line and column, the key, and what is expected.
    @Test(arguments: [
        ("theme: {}\nmous: false\n", "config.yml:2:1: mous: unknown key \"mous\"; did you mean mouse?"),
        ("mouse: yes please\n", "config.yml:1:8: mouse: expected true or false, found \"yes please\""),
        ("poll-interval: fast\n", "config.yml:1:16: poll-interval: expected a number of seconds, found \"fast\""),
        ("poll-interval: 0\n", "config.yml:1:16: poll-interval: must be from 0.1 to 3600 seconds, found 0"),
        ("age-out: \"15\"\n", "config.yml:1:10: age-out: expected a number of minutes, found \"15\""),
        ("keys:\n  fial: x\n", "config.yml:2:3: keys.fial: unknown action \"fial\"; did you mean fail?"),
        ("keys:\n  quit: <f13>\n", "config.yml:2:9: keys.quit: \"<f13>\" is not a key name"),
        ("keys:\n  quit: qq\n", "config.yml:2:9: keys.quit: \"qq\" is not a key"),
        ("keys:\n  quit: <c-c>\n", "config.yml:2:9: keys.quit: \"<c-c>\" cannot be bound"),
        ("keys:\n  quit: {a: b}\n", "config.yml:2:9: keys.quit: expected a key or a list of keys, found a mapping"),
        ("keys:\n  help: [<disabled>, h]\n", "config.yml:2:10: keys.help: <disabled> stands alone"),
        (
            "keys:\n  quit: j\n",
            "config.yml:2:3: keys.quit: j is bound to both move-down (its default; set keys.move-down to free it) and quit"
        ),
        ("keys:\n  quit: Q\n  help: Q\n", "config.yml:2:3: keys.quit: Q is bound to both help and quit"),
        (
            "theme:\n  colors:\n    failed: crimson\n",
            "config.yml:3:13: theme.colors.failed: unknown colour \"crimson\"; use one of: default, black, red"
        ),
        ("theme:\n  colors:\n    fail: red\n", "config.yml:3:5: theme.colors.fail: unknown key \"fail\"; did you mean failed?"),
        ("theme: dark\n", "config.yml:1:8: theme: expected a mapping (`key: value` lines), found \"dark\""),
        (
            "prices:\n  gpt-4o:\n    input-per-million: 2.5\n",
            "config.yml:3:5: prices.gpt-4o: needs output-per-million (a price per million tokens)"
        ),
        (
            "prices:\n  gpt-4o:\n    input-per-million: -1\n    output-per-million: 10\n",
            "config.yml:3:24: prices.gpt-4o.input-per-million: must be from 0 to 1000000, found -1"
        ),
        ("prices:\n  gpt-4o:\n    input: 2.5\n", "config.yml:3:5: prices.gpt-4o.input: unknown key \"input\""),
        ("mouse: true\n  poll-interval: 1\n", "config.yml:2:16: not valid YAML"),
        ("mouse: true\nmouse: false\n", "config.yml:1:1: a key is given twice: mouse"),
        ("- mouse\n", "config.yml:1:1: expected a mapping (`key: value` lines), found a list"),
    ])
    func aMistakeIsNamedWithItsLineAndKey(text: String, expected: String) {
        let error = ConfigError(file: "config.yml", problems: problems(text))
        #expect(error.problems.count == 1, "\(error)")
        #expect(error.description.hasPrefix(expected), "\(error)")
    }

    @Test func everyMistakeIsReportedNotOnlyTheFirst() {
        let found = problems(
            """
            mouse: maybe
            keys:
              fial: x
            theme:
              colors:
                good: teal
            """)
        #expect(found.map(\.line) == [1, 3, 6])
        #expect(found.map(\.key) == ["mouse", "keys.fial", "theme.colors.good"])
    }

    @Test func aMissingFileIsTheDefaultsUnlessItWasNamed() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-\(UUID().uuidString).yml").path
        #expect(try TUIConfig.load(path: path, required: false) == TUIConfig())
        #expect(throws: ConfigError(file: path, problems: [ConfigProblem(message: "no such file")])) {
            try TUIConfig.load(path: path, required: true)
        }
    }

    @Test func theFileIsFoundWhereTheEnvironmentSays() {
        #expect(TUIConfig.defaultPath(environment: ["PREFACTOR_CONFIG": "/etc/p.yml", "HOME": "/h"]) == "/etc/p.yml")
        #expect(TUIConfig.defaultPath(environment: ["XDG_CONFIG_HOME": "/x", "HOME": "/h"]) == "/x/prefactor/config.yml")
        #expect(TUIConfig.defaultPath(environment: ["HOME": "/h"]) == "/h/.config/prefactor/config.yml")
    }
}

/// Defaults, then the file, then the environment, then the flags.
@Suite("Config layering")
struct ConfigLayeringTests {
    let utf8 = ["LANG": "C.UTF-8"]

    @Test func theFileOverridesTheDefaultsAndTheFlagsOverrideTheFile() throws {
        var config = TUIConfig()
        #expect(TUISettings(config: config, environment: utf8, flags: .init()).pollInterval == TUISettings.defaultPollInterval)
        #expect(TUISettings(config: config, environment: utf8, flags: .init()).ageOut == TUISettings.defaultAgeOut)
        config.pollInterval = 5
        config.ageOut = 30
        config.mouse = true
        var settings = TUISettings(config: config, environment: utf8, flags: .init())
        #expect(settings.pollInterval == 5)
        #expect(settings.ageOut == 30)
        #expect(settings.mouse)
        settings = TUISettings(config: config, environment: utf8, flags: .init(noMouse: true, pollInterval: 0.5, ageOut: 1))
        #expect(settings.pollInterval == 0.5)
        #expect(settings.ageOut == 1)
        #expect(!settings.mouse, "--no-mouse")
        config.mouse = false
        #expect(!TUISettings(config: config, environment: utf8, flags: .init()).mouse, "mouse: false")
    }

    @Test func theThemeLayers() throws {
        var config = TUIConfig()
        config.palette.active = .blue
        var theme = TUISettings(config: config, environment: utf8, flags: .init()).theme
        #expect(theme.unicode && theme.color)
        #expect(theme.style(.active).foreground == .blue, "the file's colours")
        config.ascii = true
        config.color = false
        theme = TUISettings(config: config, environment: utf8, flags: .init()).theme
        #expect(!theme.unicode && !theme.color)
        config.ascii = false
        config.color = true
        theme = TUISettings(config: config, environment: utf8.merging(["NO_COLOR": "1"]) { $1 }, flags: .init()).theme
        #expect(!theme.color, "NO_COLOR wins over the file")
        theme = TUISettings(config: config, environment: utf8, flags: .init(ascii: true, noColor: true)).theme
        #expect(!theme.unicode && !theme.color, "the flags win over the file")
    }
}
