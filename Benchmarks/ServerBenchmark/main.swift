import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire

/// Measures the local API server: span create+finish pairs per second from concurrent clients, and latency.
struct ServerBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prefactor-server-benchmark",
        abstract: "Span create+finish throughput and latency of the local API server (run a release build).",
        discussion: """
            Without --api-url the benchmark starts the server in this process on 127.0.0.1 with a SQLite file in a
            temporary folder (or in memory with --in-memory). With --api-url it measures that server instead.
            """)

    @Option(help: "Span create+finish pairs to run.")
    var pairs = 20_000

    @Option(help: "Concurrent client tasks.")
    var concurrency = 32

    @Flag(help: "Use an in-memory database instead of a file.")
    var inMemory = false

    @Option(name: .customLong("api-url"), help: "Measure an already running server instead.")
    var apiURL: String?

    @Option(help: "The token of the server given with --api-url.")
    var token: String?

    @Flag(help: "Send two pings instead of a span create and finish (measures HTTP without the database).")
    var pingOnly = false

    /// The load generator.
    enum Client: String, ExpressibleByArgument, CaseIterable {
        /// Plain SwiftNIO connections driven on their event loops (``NIOLoadGenerator``).
        case nio
        /// AsyncHTTPClient, one connection per concurrent task.
        case ahc
    }

    @Option(help: "The load generator: nio (plain SwiftNIO keep-alive connections, the leanest) or ahc (AsyncHTTPClient).")
    var client: Client = .nio

    @Option(help: "Event loop threads of the nio load generator.")
    var clientThreads = 1

    @Option(
        name: .customLong("wal-checkpoint-mib"),
        help:
            "How much the in-process server's write-ahead log may hold before it starts over (0: no bound, to measure what the bound costs)."
    )
    var walCheckpointMiB = ServerConfiguration.defaultWALCheckpointBytes >> 20

    func validate() throws {
        guard pairs > 0, concurrency > 0 else { throw ValidationError("--pairs and --concurrency must be positive") }
        guard clientThreads > 0 else { throw ValidationError("--client-threads must be positive") }
        guard walCheckpointMiB >= 0 else { throw ValidationError("--wal-checkpoint-mib must not be negative") }
        if apiURL != nil && token == nil { throw ValidationError("--api-url needs --token") }
    }

    func run() async throws {
        if let apiURL, let token {
            try await measure(baseURL: apiURL, token: token, database: "external server", inProcess: false)
            return
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("prefactor-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("bench.sqlite").path
        let location: DatabaseLocation = inMemory ? .inMemory : .file(path)
        var server = ServerConfiguration(host: "127.0.0.1", port: 0, database: location, token: "bench")
        server.walCheckpointBytes = walCheckpointMiB == 0 ? Int.max : walCheckpointMiB << 20
        try await withTestServer(PrefactorAPIServer(configuration: server)) { server in
            // The write-ahead log's size, sampled every 10 ms while the load runs.
            let wal = path + "-wal"
            let sampler = Task.detached { () -> Int in
                var largest = 0
                while !Task.isCancelled {
                    largest = max(largest, Self.fileSize(wal))
                    try? await Task.sleep(for: .milliseconds(10))
                }
                return largest
            }
            try await measure(
                baseURL: server.baseURL, token: server.token, database: inMemory ? "in memory" : "SQLite file (WAL)",
                inProcess: true)
            sampler.cancel()
            if !inMemory {
                let end = Self.fileSize(wal)
                let largest = max(await sampler.value, end)
                print(
                    String(
                        format: "  WAL size          %.1f MB at the end, %.1f MB at most", Double(end) / 1e6,
                        Double(largest) / 1e6))
            }
        }
    }

    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
    }

    /// What one measured run took.
    struct Measurement {
        var elapsed: Duration
        /// CPU time (user + system) this process used during the run.
        var cpu: Duration
        /// Every request's latency, in nanoseconds.
        var latencies: [UInt64]
    }

    func measure(baseURL: String, token: String, database: String, inProcess: Bool) async throws {
        var configuration = APIClient.Configuration(apiURL: baseURL, apiToken: token)
        configuration.retryPolicy = .none
        let setup = try APIClient(configuration: configuration)
        let instance = try await setup.registerAgentInstance(.init(agentVersion: ["name": "benchmark"]))
        _ = try await setup.startAgentInstance(id: instance.id, timestamp: Date())
        try await setup.shutdown()

        let perTask = (pairs + concurrency - 1) / concurrency
        let counts = (0..<concurrency).map { min(perTask, max(0, pairs - $0 * perTask)) }
        let result: Measurement
        switch client {
        case .nio: result = try await measureNIO(baseURL: baseURL, token: token, instance: instance.id, counts: counts)
        case .ahc: result = try await measureAHC(configuration: configuration, instance: instance.id, counts: counts)
        }

        let sorted = result.latencies.sorted()
        func percentile(_ p: Double) -> Double {
            Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1_000_000
        }
        let operations = Double(sorted.count)
        let seconds = result.elapsed.seconds
        print(
            "server benchmark: \(pairs) span create+finish pairs, \(concurrency) concurrent clients, \(database), \(client.rawValue) client"
        )
        print(String(format: "  elapsed           %.2f s", seconds))
        print(
            String(
                format: "  throughput        %.0f span operations/s (%.0f pairs/s)", operations / seconds, Double(pairs) / seconds
            ))
        print(String(format: "  latency p50       %.2f ms", percentile(0.50)))
        print(String(format: "  latency p99       %.2f ms", percentile(0.99)))
        let cpu = String(
            format: "%.0f µs per span operation (%.2f s user+system", result.cpu.seconds * 1_000_000 / operations,
            result.cpu.seconds)
        print("  client CPU        \(cpu)\(inProcess ? ", the in-process server included)" : ")")")
    }

    /// Runs `body` and measures its wall-clock and CPU time.
    func measured(_ body: () async throws -> [UInt64]) async throws -> Measurement {
        let clock = ContinuousClock()
        let cpuBefore = Self.processCPUTime()
        let started = clock.now
        let latencies = try await body()
        let elapsed = clock.now - started
        return Measurement(elapsed: elapsed, cpu: Self.processCPUTime() - cpuBefore, latencies: latencies)
    }

    /// The CPU time (user + system) this process used so far.
    static func processCPUTime() -> Duration {
        var usage = rusage()
        #if os(Linux)
            getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        #else
            getrusage(RUSAGE_SELF, &usage)
        #endif
        func duration(_ time: timeval) -> Duration { .seconds(time.tv_sec) + .microseconds(time.tv_usec) }
        return duration(usage.ru_utime) + duration(usage.ru_stime)
    }

    // MARK: nio

    func measureNIO(baseURL: String, token: String, instance: String, counts: [Int]) async throws -> Measurement {
        guard let url = URL(string: baseURL), let host = url.host, let port = url.port else {
            throw ValidationError("Expected an API URL with host and port, got \(baseURL)")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: clientThreads)
        let requests = SpanRequests(host: "\(host):\(port)", token: token, instanceID: instance)
        let generator = try await NIOLoadGenerator.connect(
            host: host, port: port, concurrency: concurrency, requests: requests, pingOnly: pingOnly, group: group)
        // Warm up the connections and the database.
        _ = try await generator.run(pairs: counts.map { min($0, max(1, 200 / concurrency)) })
        let result = try await measured { try await generator.run(pairs: counts) }
        await generator.close()
        try await group.shutdownGracefully()
        return result
    }

    // MARK: ahc

    func measureAHC(configuration: APIClient.Configuration, instance: String, counts: [Int]) async throws -> Measurement {
        // One connection per concurrent task, so the client side does not queue requests.
        var httpConfiguration = HTTPClient.Configuration()
        httpConfiguration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
        let base = configuration.apiURL
        let token = configuration.apiToken
        let clock = ContinuousClock()
        // Warm up connections and the database.
        for _ in 0..<200 { _ = try await pair(http: http, base: base, token: token, instance: instance, clock: clock) }
        let result = try await measured {
            try await withThrowingTaskGroup(of: [UInt64].self) { group in
                for count in counts {
                    group.addTask {
                        var local: [UInt64] = []
                        local.reserveCapacity(count * 2)
                        for _ in 0..<count {
                            let (create, finish) = try await pair(
                                http: http, base: base, token: token, instance: instance, clock: clock)
                            local.append(create.nanoseconds)
                            local.append(finish.nanoseconds)
                        }
                        return local
                    }
                }
                var all: [UInt64] = []
                for try await part in group { all += part }
                return all
            }
        }
        try await http.shutdown()
        return result
    }

    /// One span create and its finish, sent as the official Python SDK sends them, as raw AsyncHTTPClient requests;
    /// returns the latency of each request.
    func pair(http: HTTPClient, base: String, token: String, instance: String, clock: ContinuousClock) async throws -> (
        Duration, Duration
    ) {
        func post(_ path: String, _ body: String) async throws -> [UInt8] {
            var request = HTTPClientRequest(url: base + path)
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "X-Prefactor-SDK", value: SpanRequests.sdkHeader)
            request.body = .bytes(ByteBuffer(string: body))
            let response = try await http.execute(request, timeout: .seconds(30))
            let bytes = Array(try await response.body.collect(upTo: 1 << 20).readableBytesView)
            guard response.status.code == 200 else {
                throw ValidationError("HTTP \(response.status.code): \(String(decoding: bytes, as: UTF8.self))")
            }
            return bytes
        }
        if pingOnly {
            let start = clock.now
            var request = HTTPClientRequest(url: base + "/api/v1/ping")
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            for _ in 0..<2 {
                let response = try await http.execute(request, timeout: .seconds(30))
                _ = try await response.body.collect(upTo: 1 << 20)
            }
            let elapsed = clock.now - start
            return (elapsed / 2, elapsed / 2)
        }
        let start = clock.now
        let created = try await post("/api/v1/agent_spans", SpanRequests.createBody(instanceID: instance))
        let middle = clock.now
        guard let spanID = try JSONParser.parse(created)["details"]?["id"]?.stringValue else {
            throw ValidationError("span create answered without an id")
        }
        _ = try await post("/api/v1/agent_spans/\(spanID)/finish", SpanRequests.finishBody())
        return (middle - start, clock.now - middle)
    }
}

/// Runs the command; called from an async function so that the async `main()` of `AsyncParsableCommand` is chosen.
func runServerBenchmark() async {
    await ServerBenchmark.main()
}

await runServerBenchmark()

extension Duration {
    /// The duration in whole nanoseconds (non-negative durations).
    var nanoseconds: UInt64 {
        UInt64(components.seconds) * 1_000_000_000 + UInt64(components.attoseconds / 1_000_000_000)
    }
}
