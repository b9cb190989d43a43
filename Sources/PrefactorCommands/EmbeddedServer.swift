import Foundation
import Logging
import PrefactorServer
import ServiceLifecycle

/// A local API server inside this process (in memory, loopback, any free port), for the UI's default mode.
struct EmbeddedServer {
    let url: String
    let token: String
    let group: ServiceGroup
    let task: Task<Void, any Error>

    static func start(logger: Logger) async throws -> EmbeddedServer {
        let token = ServerConfiguration.generateToken()
        let server = try PrefactorAPIServer(
            configuration: ServerConfiguration(host: "127.0.0.1", port: 0, database: .inMemory, token: token, logger: logger))
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let application = server.makeApplication { port in
            continuation.yield(port)
            continuation.finish()
        }
        let group = ServiceGroup(services: [application], gracefulShutdownSignals: [], logger: logger)
        let task = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            _ = try? await task.value
            throw CleanError("the embedded API server could not start")
        }
        return EmbeddedServer(url: "http://127.0.0.1:\(port)", token: token, group: group, task: task)
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

/// An error whose description is the message shown to the user.
struct CleanError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A swift-log handler appending to a file (the UI never writes logs to the terminal).
struct FileLogHandler: LogHandler {
    final class Sink: @unchecked Sendable {
        let handle: FileHandle
        let lock = NSLock()
        init(handle: FileHandle) { self.handle = handle }
        func write(_ text: String) {
            lock.lock()
            defer { lock.unlock() }
            handle.write(Data(text.utf8))
        }
    }

    let label: String
    let sink: Sink
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let details =
            merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        sink.write("\(ISO8601DateFormatter().string(from: Date())) \(event.level) \(label): \(event.message)\(details)\n")
    }

    /// Opens (appending) a log file, creating its folder.
    static func open(path: String) throws -> Sink {
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw CleanError("cannot write the log file \(path)") }
        handle.seekToEndOfFile()
        return Sink(handle: handle)
    }

    /// The default log file: `$XDG_STATE_HOME/prefactor/tui.log` or `~/.local/state/prefactor/tui.log`.
    static func defaultPath(_ environment: [String: String]) -> String {
        let base =
            environment["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.local/state")
        return base + "/prefactor/tui.log"
    }
}
