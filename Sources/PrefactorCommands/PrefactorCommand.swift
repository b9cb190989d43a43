import ArgumentParser
import Foundation
import PrefactorHTTP

/// The `prefactor` command: the local API server, the terminal UI and tools around the Prefactor API.
public struct PrefactorCommand: AsyncParsableCommand {
    /// The command's help and subcommands.
    public static let configuration = CommandConfiguration(
        commandName: "prefactor",
        abstract: "Observe and control AI agents with Prefactor: a terminal UI, a local API server and tools.",
        discussion: """
            Examples:
              prefactor                  the terminal UI, embedded API server, demo agent
              prefactor tui --api-url URL
                                         the terminal UI against any Prefactor API
              prefactor serve            the local Prefactor API on 127.0.0.1:4000
              prefactor serve --port 0 --in-memory
                                         a throwaway server on any free port
              prefactor demo --api-url URL
                                         the demo agent without the UI
              prefactor ping --api-url URL
                                         check that an API accepts the token
              prefactor export RUN_ID --api-url URL --output run.json
                                         a run with all its spans as JSON
              prefactor config check     check the terminal UI's config file

            The token comes from PREFACTOR_API_TOKEN, or --token-file PATH (--token TOKEN works too, but shows
            the token to every user in `ps`). The API URL can also come from PREFACTOR_API_URL.
            """,
        version: APIClient.sdkVersion,
        subcommands: [
            TUICommand.self, ServeCommand.self, PingCommand.self, DemoCommand.self, QueueCommand.self, ExportCommand.self,
            ConfigCommand.self,
        ],
        defaultSubcommand: TUICommand.self
    )

    /// Creates the command (argument parsing does this).
    public init() {}
}

/// Writes a line to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Writes a line to standard output and flushes it, so that scripts reading a pipe or a file see it at once.
func printFlushed(_ message: String) {
    FileHandle.standardOutput.write(Data((message + "\n").utf8))
}

/// Options shared by commands that call an API.
struct APIOptions: ParsableArguments {
    @Option(name: .customLong("api-url"), help: "The API origin (default: $PREFACTOR_API_URL).")
    var apiURL: String?

    @Option(help: "The API token (default: $PREFACTOR_API_TOKEN); shown to every user by `ps`, unlike --token-file.")
    var token: String?

    @Option(name: .customLong("token-file"), help: "A file whose first line is the API token.")
    var tokenFile: String?

    func clientConfiguration() throws -> APIClient.Configuration {
        let token = try TokenSource.resolve(token: token, file: tokenFile)
        do {
            return try APIClient.Configuration.fromEnvironment(apiURL: apiURL, apiToken: token)
        } catch {
            throw ValidationError(error.message)
        }
    }
}

/// Where a command's token comes from: `--token`, or `--token-file` for those who cannot set
/// `PREFACTOR_API_TOKEN` and do not want the token in the process list.
enum TokenSource {
    /// The token given on the command line or read from the file; `nil` when neither was given (the environment
    /// variable applies then).
    ///
    /// - Throws: `ValidationError` when both are given, or the file cannot be read or holds no token.
    static func resolve(token: String?, file: String?) throws -> String? {
        guard let file else { return token }
        if token != nil { throw ValidationError("--token and --token-file cannot be used together") }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ValidationError("cannot read the token file \(file)")
        }
        let text = String(decoding: data, as: UTF8.self)
        let line = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        let value = line.trimmingCharacters(in: .whitespaces)
        guard !value.isEmpty else { throw ValidationError("the token file \(file) is empty") }
        return value
    }
}

/// The entry point of the `prefactor` executable.
public enum PrefactorMain {
    /// Parses the process arguments and runs the chosen command, exiting with its status.
    public static func main() async {
        await PrefactorCommand.main()
    }
}
