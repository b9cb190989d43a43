import ArgumentParser
import PrefactorTUI

/// The options of `prefactor tui` that the config file also sets.
struct ConfigOptions: ParsableArguments {
    @Option(
        name: .customLong("config"),
        help: ArgumentHelp(
            "The config file (default: $PREFACTOR_CONFIG, else $XDG_CONFIG_HOME/prefactor/config.yml).", valueName: "FILE"))
    var file: String?

    @Flag(help: "No mouse: clicks and the wheel go to the terminal (also `mouse: false` in the config file).")
    var noMouse = false

    /// The config file named, or the default one (a missing default file means the defaults).
    func load(environment: [String: String]) throws(ConfigError) -> TUIConfig {
        if let file { return try TUIConfig.load(path: file, required: true) }
        return try TUIConfig.load(path: TUIConfig.defaultPath(environment: environment), required: false)
    }
}

extension TUICommand {
    /// The settings of this session: defaults, then the config file, then the environment, then the flags.
    func resolveSettings(environment: [String: String]) throws(ConfigError) -> TUISettings {
        let config = try configOptions.load(environment: environment)
        let flags = TUISettings.Flags(
            ascii: ascii, noColor: noColor, noMouse: configOptions.noMouse, pollInterval: pollInterval, ageOut: ageOut)
        return TUISettings(config: config, environment: environment, flags: flags)
    }
}
