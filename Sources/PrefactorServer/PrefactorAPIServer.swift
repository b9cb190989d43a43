import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import PrefactorWire
import ServiceLifecycle
import Synchronization

/// How to run the local Prefactor API server.
public struct ServerConfiguration: Sendable {
    /// The address to listen on; loopback by default.
    public var host: String
    /// The port; `0` picks any free port (the bound port is reported when the server runs).
    public var port: Int
    /// Where data lives.
    public var database: DatabaseLocation
    /// The bearer token every request must carry.
    public var token: String
    /// The largest accepted request body; larger bodies get 413.
    public var maxBodyBytes: Int
    /// Faults in force from the start.
    public var faults: [FaultRule]
    /// Whether faults are applied at all and `/__prefactor/faults` exists; off unless asked for or `faults` is given.
    public var faultInjection: Bool
    /// Timeouts and the connection limit.
    public var limits: ConnectionLimits
    /// For a database file: how much its write-ahead log may hold before a checkpoint between two write batches
    /// starts it over, so that the log stays small under any sustained load (32 MiB by default; writes wait for it
    /// past 56 MiB).
    public var walCheckpointBytes: Int = ServerConfiguration.defaultWALCheckpointBytes
    /// The default of ``walCheckpointBytes``: 32 MiB.
    public static let defaultWALCheckpointBytes = 32 << 20
    /// Where the server logs.
    public var logger: Logger

    /// The default body limit: 1 MiB.
    public static let defaultMaxBodyBytes = 1 << 20

    /// Creates a configuration.
    public init(
        host: String = "127.0.0.1", port: Int = 4000, database: DatabaseLocation = .inMemory, token: String,
        maxBodyBytes: Int = ServerConfiguration.defaultMaxBodyBytes, faults: [FaultRule] = [],
        faultInjection: Bool? = nil, limits: ConnectionLimits = .default,
        logger: Logger = Logger(label: "prefactor.server", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.host = host
        self.port = port
        self.database = database
        self.token = token
        self.maxBodyBytes = maxBodyBytes
        self.faults = faults
        self.faultInjection = faultInjection ?? !faults.isEmpty
        self.limits = limits
        self.logger = logger
    }

    /// A random token, for `prefactor serve` without `--token`.
    public static func generateToken() -> String {
        "pf_local_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }
}

/// The local Prefactor API: every endpoint the SDKs use, on Hummingbird and SQLite.
///
/// ```swift
/// let server = try PrefactorAPIServer(configuration: .init(port: 0, token: "dev-token"))
/// let app = server.makeApplication { port in print("listening on \(port)") }
/// try await app.runService()
/// ```
public final class PrefactorAPIServer: Sendable {
    /// The configuration the server was created with.
    public let configuration: ServerConfiguration
    /// The scripted faults; change them while the server runs.
    public let faults: FaultInjector
    /// The requests received.
    public let requests: RequestLog
    let store: Store
    let connections = OpenConnections()

    /// How many client connections are open now.
    public var openConnections: Int { connections.count.load(ordering: .relaxed) }

    /// Opens (or creates) the database and prepares the server.
    ///
    /// - Parameter configuration: Where to listen and store data.
    /// - Throws: When the database cannot be opened or migrated.
    public convenience init(configuration: ServerConfiguration) throws {
        let clock = StrictClock()
        try self.init(configuration: configuration, now: { clock.next() })
    }

    /// Opens (or creates) the database and prepares a server whose writes take their `inserted_at` and
    /// `updated_at` from `now` instead of the wall clock: for tools that fill a database with data from the past.
    ///
    /// - Parameters:
    ///   - configuration: Where to listen and store data.
    ///   - now: The server time, in microseconds since 1970; it must never repeat or go back.
    /// - Throws: When the database cannot be opened or migrated.
    package init(configuration: ServerConfiguration, now: @escaping @Sendable () -> Int64) throws {
        self.configuration = configuration
        self.faults = FaultInjector(configuration.faults)
        self.requests = RequestLog()
        self.store = try Store(
            location: configuration.database, walCheckpointBytes: configuration.walCheckpointBytes, now: now)
    }

    /// Builds the Hummingbird application serving the API.
    ///
    /// - Parameter onRunning: Called with the bound port once the server accepts connections.
    /// - Returns: An application to run with `runService()` or inside a `ServiceGroup`.
    public func makeApplication(
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        var services: [any Service] = []
        if case .file(let path) = configuration.database {
            services.append(Checkpointer(path: path, interval: .milliseconds(500), logger: configuration.logger))
        }
        let limits = configuration.limits
        return Application(
            router: buildRouter(),
            server: HTTPServerBuilder { responder in GuardedHTTP1Channel(responder: responder, limits: limits) },
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: nil,
                availableConnectionsDelegate: ConnectionCount(open: connections, maximum: limits.maxConnections)),
            services: services,
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: configuration.logger)
    }
}

/// Server time in microseconds that never repeats or goes back: every write gets a later `updated_at` than the one
/// before, so a reader that asks for changes just after the newest one it saw misses nothing.
final class StrictClock: Sendable {
    private let last = Mutex<Int64>(0)

    func next() -> Int64 {
        let wall = WireDate.microseconds(of: Date())
        return last.withLock { last in
            last = max(last + 1, wall)
            return last
        }
    }
}
