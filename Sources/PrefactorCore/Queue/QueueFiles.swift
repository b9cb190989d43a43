import Foundation

/// Where queue files live and what each holds, for the tools that list, inspect and rescue them.
public enum QueueFiles {
    /// `$XDG_STATE_HOME/prefactor/queues` (by default `~/.local/state/prefactor/queues`).
    public static func defaultDirectory(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let state: String
        if let xdg = environment["XDG_STATE_HOME"], xdg.hasPrefix("/") {
            state = xdg
        } else {
            let home = environment["HOME"] ?? NSHomeDirectory()
            state = (home as NSString).appendingPathComponent(".local/state")
        }
        return (state as NSString).appendingPathComponent("prefactor/queues")
    }

    /// A new file for this process: `COMMAND-PID-TIME.sqlite` in the default directory.
    public static func newPath(
        command: String, environment: [String: String] = ProcessInfo.processInfo.environment, now: Date = Date()
    ) -> String {
        let name = "\(command)-\(getpid())-\(Int(now.timeIntervalSince1970)).sqlite"
        return (defaultDirectory(environment) as NSString).appendingPathComponent(name)
    }

    /// The queue files of a directory, newest first.
    public static func list(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".sqlite") }
            .map { (directory as NSString).appendingPathComponent($0) }
            .sorted { modified($0) > modified($1) }
    }

    private static func modified(_ path: String) -> Date {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date) ?? .distantPast
    }

    /// What a queue file holds, at a glance.
    public struct Summary: Sendable, Hashable {
        /// The file.
        public var path: String
        /// Who owns (or owned) it.
        public var owner: SQLiteTelemetryQueueStore.Owner?
        /// Whether its owner still holds it.
        public var ownerAlive: Bool
        /// Operations waiting to be delivered.
        public var depth: Int
        /// Operations that failed for good (kept until dropped).
        public var failed: Int
        /// When the oldest operation was queued.
        public var oldest: Date?
        /// The file's size on disk, its write-ahead log and its log included.
        public var bytes: Int
        /// Why it could not be read, if it could not.
        public var problem: String?

        /// Creates a summary.
        public init(
            path: String, owner: SQLiteTelemetryQueueStore.Owner?, ownerAlive: Bool, depth: Int, failed: Int, oldest: Date?,
            bytes: Int, problem: String?
        ) {
            self.path = path
            self.owner = owner
            self.ownerAlive = ownerAlive
            self.depth = depth
            self.failed = failed
            self.oldest = oldest
            self.bytes = bytes
            self.problem = problem
        }
    }

    /// Reads a file's summary; never throws (a file that cannot be read says why in ``Summary/problem``).
    public static func summary(of path: String) -> Summary {
        let bytes = (["", "-wal"] + QueueLogFiles.suffixes).reduce(0) { total, suffix in
            total + ((try? FileManager.default.attributesOfItem(atPath: path + suffix))?[.size] as? Int ?? 0)
        }
        let alive = SQLiteTelemetryQueueStore.isOwned(path: path)
        do {
            let store = try SQLiteTelemetryQueueStore.inspect(path: path)
            let entries = try store.entries()
            let failed = entries.filter { $0.failedReason != nil }.count
            return Summary(
                path: path, owner: store.owner(), ownerAlive: alive, depth: entries.count - failed, failed: failed,
                oldest: entries.map(\.enqueuedAt).min(), bytes: bytes, problem: nil)
        } catch {
            return Summary(
                path: path, owner: nil, ownerAlive: alive, depth: 0, failed: 0, oldest: nil, bytes: bytes,
                problem: "\(error)")
        }
    }
}
