import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NIOCore
import PrefactorHTTP
import PrefactorServer
import ServiceLifecycle

/// `prefactor serve`: the local Prefactor API server.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the local Prefactor API server (Hummingbird + SQLite).",
        discussion: """
            The server implements the Prefactor API the official SDKs use, under /api/v1. Data is kept in a SQLite file (default: $XDG_DATA_HOME/prefactor/prefactor.sqlite) and survives restarts; --in-memory keeps it in memory only. Every request needs 'Authorization: Bearer TOKEN'. Without $PREFACTOR_API_TOKEN, --token-file or --token a token is generated and printed once.

            On start the server prints, each on its own line (the URL line last):
              PREFACTOR_API_TOKEN=TOKEN      (only when the token was generated)
              PREFACTOR_API_URL=http://HOST:PORT

            Fault injection (tests and demos), repeatable: --fault '[METHOD ]PATH:OPTIONS' with the options status=CODE, count=N, latency=MS and drop; PATH may contain * wildcards. Examples:
              --fault 'POST /api/v1/agent_spans:status=503,count=3'
              --fault '*:latency=50'
            Fault injection is off unless a --fault is given or --enable-fault-injection; when on, faults can also be changed while running: GET /__prefactor/faults lists them, POST adds one with a JSON body such as {"method": "POST", "path": "/api/v1/agent_spans", "status": 503, "count": 3} (or {"latency_ms": 50} or {"drop": true}), DELETE removes them all (docs/faults.md).

            Slow and idle clients are cut off (--idle-timeout, --header-timeout, --request-timeout) and at most --max-connections are served at once. --host other than a loopback address makes the API reachable from the network over plain HTTP.

            Stop with Ctrl-C or SIGTERM: in-flight requests finish first.
            """)

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on; 0 picks a free port.")
    var port = 4000

    @Option(name: .customLong("db"), help: "The SQLite database file (default: under $XDG_DATA_HOME).")
    var databasePath: String?

    @Flag(help: "Keep data in memory only (lost on exit).")
    var inMemory = false

    @Option(
        help: "The bearer token clients must send (default: $PREFACTOR_API_TOKEN, else generated); shown by `ps`.")
    var token: String?

    @Option(name: .customLong("token-file"), help: "A file whose first line is the bearer token clients must send.")
    var tokenFile: String?

    @Option(name: .customLong("fault"), help: "A fault to inject, e.g. 'POST /api/v1/agent_spans:status=503,count=3'.")
    var faults: [String] = []

    @Flag(help: "Apply faults and serve /__prefactor/faults even without a --fault (for tests and demos).")
    var enableFaultInjection = false

    @Option(help: "Seconds a connection may stay open without a request.")
    var idleTimeout: Double = 30

    @Option(help: "Seconds a request head may take to arrive once it started.")
    var headerTimeout: Double = 10

    @Option(help: "Seconds a whole request (head and body) may take to arrive.")
    var requestTimeout: Double = 60

    @Option(help: "The most connections served at once; more clients wait.")
    var maxConnections = ConnectionLimits.default.maxConnections

    @Option(help: "The largest request body accepted, in bytes; larger bodies get HTTP 413.")
    var maxBodyBytes = ServerConfiguration.defaultMaxBodyBytes

    @Option(help: "Log level on standard error: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func validate() throws {
        if inMemory && databasePath != nil { throw ValidationError("--db and --in-memory cannot be used together") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        guard maxBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be at least 1024") }
        if let token, token.isEmpty { throw ValidationError("--token must not be empty") }
        _ = try TokenSource.resolve(token: token, file: tokenFile)
        let timeouts = [
            ("--idle-timeout", idleTimeout), ("--header-timeout", headerTimeout), ("--request-timeout", requestTimeout),
        ]
        for (name, value) in timeouts where !(value > 0 && value <= 86_400) {
            throw ValidationError("\(name) must be more than 0 and at most 86400 seconds")
        }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
        for fault in faults {
            do { _ = try FaultRule(parsing: fault) } catch { throw ValidationError("\(error)") }
        }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let explicitToken =
            try TokenSource.resolve(token: token, file: tokenFile)
            ?? environment["PREFACTOR_API_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        let token = explicitToken ?? ServerConfiguration.generateToken()
        let database: DatabaseLocation =
            inMemory ? .inMemory : .file(databasePath ?? DatabaseLocation.defaultFilePath(environment: environment))
        var logger = Logger(label: "prefactor.server") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let limits = ConnectionLimits(
            idleTimeout: .milliseconds(Int64(idleTimeout * 1000)), headerTimeout: .milliseconds(Int64(headerTimeout * 1000)),
            requestTimeout: .milliseconds(Int64(requestTimeout * 1000)),
            maxConnections: Self.connectionsWithinDescriptorLimit(maxConnections))
        let configuration = ServerConfiguration(
            host: host, port: port, database: database, token: token, maxBodyBytes: maxBodyBytes,
            faults: try faults.map(FaultRule.init(parsing:)), faultInjection: enableFaultInjection || !faults.isEmpty,
            limits: limits, logger: logger)
        if !Self.isLoopback(host) {
            printError(
                "warning: listening on \(host): the API is reachable from the network over plain HTTP, and the token "
                    + "travels unencrypted; use --host 127.0.0.1 unless that is intended")
        }

        let server: PrefactorAPIServer
        do {
            server = try PrefactorAPIServer(configuration: configuration)
        } catch {
            if case .file(let path) = database {
                printError("error: cannot open the database at \(path): \(error)")
            } else {
                printError("error: cannot create the in-memory database: \(error)")
            }
            throw ExitCode.failure
        }
        let host = self.host
        let generated = explicitToken == nil
        let application = server.makeApplication { port in
            let displayHost = host.contains(":") ? "[\(host)]" : host
            printFlushed("Prefactor API server \(APIClient.sdkVersion) listening on http://\(displayHost):\(port)")
            switch database {
            case .file(let path): printFlushed("Database: \(path)")
            case .inMemory: printFlushed("Database: in memory (data is lost on exit)")
            }
            if !configuration.faults.isEmpty {
                printFlushed("Faults: " + configuration.faults.map { "\($0.method ?? "*") \($0.path)" }.joined(separator: ", "))
            } else if configuration.faultInjection {
                printFlushed("Fault injection: on (/__prefactor/faults)")
            }
            // The token line comes first: a reader that waits for the URL line has then seen both.
            if generated { printFlushed("PREFACTOR_API_TOKEN=\(token)") }
            printFlushed("PREFACTOR_API_URL=http://\(displayHost):\(port)")
        }
        do {
            try await application.runService()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            printError("error: cannot listen on \(host):\(port): the address is already in use (try --port 0 for a free port)")
            throw ExitCode.failure
        } catch let error as IOError {
            printError("error: cannot listen on \(host):\(port): \(error.description)")
            throw ExitCode.failure
        }
    }

    /// Whether clients on other machines cannot reach `host`: `localhost`, `127.0.0.0/8` and `::1`.
    static func isLoopback(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if bare.lowercased() == "localhost" || bare == "::1" || bare == "0:0:0:0:0:0:0:1" { return true }
        let octets = bare.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// Descriptors kept for the database, the log and the listening socket beyond one per connection.
    static let reservedDescriptors = 64

    /// Makes room for `wanted` connections under the process's descriptor limit, raising the soft limit up to the
    /// hard one when needed; if even that is too low, serves fewer connections and says so. The server then stops
    /// accepting at its connection limit, before the descriptors run out.
    static func connectionsWithinDescriptorLimit(_ wanted: Int) -> Int {
        var limit = rlimit()
        #if os(Linux)
            let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
            let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return wanted }
        let needed = rlim_t(wanted + reservedDescriptors)
        if limit.rlim_cur != rlim_t.max && limit.rlim_cur < needed {
            var raised = limit
            raised.rlim_cur = limit.rlim_max == rlim_t.max ? needed : min(needed, limit.rlim_max)
            if setrlimit(resource, &raised) == 0 { limit = raised }
        }
        guard limit.rlim_cur != rlim_t.max, limit.rlim_cur < needed else { return wanted }
        let possible = max(1, Int(limit.rlim_cur) - reservedDescriptors)
        printError(
            "warning: the descriptor limit (\(limit.rlim_cur)) leaves room for \(possible) connections, not \(wanted); "
                + "serving at most \(possible) at once (raise it with ulimit -n)")
        return possible
    }
}
