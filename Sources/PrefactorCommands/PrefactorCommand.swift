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
              prefactor tui --api-url URL --token TOKEN
                                         the terminal UI against any Prefactor API
              prefactor serve            the local Prefactor API on 127.0.0.1:4000
              prefactor serve --port 0 --in-memory
                                         a throwaway server on any free port
              prefactor demo --api-url URL --token TOKEN
                                         the demo agent without the UI
              prefactor ping --api-url URL --token TOKEN
                                         check that an API accepts the token

            The API URL and token can also come from PREFACTOR_API_URL and PREFACTOR_API_TOKEN.
            """,
        version: APIClient.sdkVersion,
        subcommands: [TUICommand.self, ServeCommand.self, PingCommand.self, DemoCommand.self, QueueCommand.self],
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

    @Option(help: "The API token (default: $PREFACTOR_API_TOKEN).")
    var token: String?

    func clientConfiguration() throws -> APIClient.Configuration {
        do {
            return try APIClient.Configuration.fromEnvironment(apiURL: apiURL, apiToken: token)
        } catch {
            throw ValidationError(error.message)
        }
    }
}

/// The entry point of the `prefactor` executable.
public enum PrefactorMain {
    /// Parses the process arguments and runs the chosen command, exiting with its status.
    public static func main() async {
        await PrefactorCommand.main()
    }
}
