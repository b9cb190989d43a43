import ArgumentParser
import Foundation
import PrefactorCore

/// How `prefactor tui` and `prefactor demo` choose their queue file: `--queue-file PATH`, else
/// `PREFACTOR_QUEUE_FILE`, else a new file of this process under `$XDG_STATE_HOME/prefactor/queues`; `--memory-queue`
/// keeps the queue in memory as the SDK does by default.
struct QueueFileOptions: ParsableArguments {
    @Option(
        name: .customLong("queue-file"),
        help: "The queue file (default: $PREFACTOR_QUEUE_FILE, else a new file per process in $XDG_STATE_HOME/prefactor/queues).")
    var queueFile: String?

    @Flag(name: .customLong("memory-queue"), help: "Keep the queue in memory only: a crash loses what is not delivered.")
    var memoryQueue = false

    func validate() throws {
        if memoryQueue && queueFile != nil { throw ValidationError("--queue-file and --memory-queue cannot be used together") }
    }

    /// Sets the configuration's queue file for `command`.
    func apply(to configuration: inout PrefactorClient.Configuration, command: String) {
        if memoryQueue {
            configuration.queueFile = nil
            return
        }
        let environment = ProcessInfo.processInfo.environment
        configuration.queueFile =
            queueFile ?? environment["PREFACTOR_QUEUE_FILE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? QueueFiles.newPath(command: command, environment: environment)
    }
}
