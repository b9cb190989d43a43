import ArgumentParser
import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Foundation
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire

/// Measures the local API server: span create+finish pairs per second from concurrent clients, and latency.
@main
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

    func validate() throws {
        guard pairs > 0, concurrency > 0 else { throw ValidationError("--pairs and --concurrency must be positive") }
        if apiURL != nil && token == nil { throw ValidationError("--api-url needs --token") }
    }

    func run() async throws {
        if let apiURL, let token {
            try await measure(baseURL: apiURL, token: token, database: "external server")
            return
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("prefactor-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("bench.sqlite").path
        let location: DatabaseLocation = inMemory ? .inMemory : .file(path)
        try await withTestServer(token: "bench", database: location) { server in
            try await measure(baseURL: server.baseURL, token: server.token, database: inMemory ? "in memory" : "SQLite file (WAL)")
        }
    }

    func measure(baseURL: String, token: String, database: String) async throws {
        var configuration = APIClient.Configuration(apiURL: baseURL, apiToken: token)
        configuration.retryPolicy = .none
        let client = try APIClient(configuration: configuration)
        // One connection per concurrent task, so the client side does not queue requests.
        var httpConfiguration = HTTPClient.Configuration()
        httpConfiguration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
        let instance = try await client.registerAgentInstance(.init(agentVersion: ["name": "benchmark"]))
        _ = try await client.startAgentInstance(id: instance.id, timestamp: Date())

        // Warm up connections and the database.
        for _ in 0..<200 { _ = try await pair(client, http: http, instance: instance.id, clock: ContinuousClock()) }

        let clock = ContinuousClock()
        let started = clock.now
        let perTask = (pairs + concurrency - 1) / concurrency
        let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
            for task in 0..<concurrency {
                let count = min(perTask, max(0, pairs - task * perTask))
                group.addTask {
                    var local: [Duration] = []
                    local.reserveCapacity(count * 2)
                    for _ in 0..<count {
                        let (create, finish) = try await pair(client, http: http, instance: instance.id, clock: clock)
                        local.append(create)
                        local.append(finish)
                    }
                    return local
                }
            }
            var all: [Duration] = []
            for try await part in group { all += part }
            return all
        }
        let elapsed = clock.now - started
        try await client.shutdown()
        try await http.shutdown()
        let sorted = latencies.sorted()
        func percentile(_ p: Double) -> Double {
            sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))].seconds * 1000
        }
        let operations = Double(sorted.count)
        print("server benchmark: \(pairs) span create+finish pairs, \(concurrency) concurrent clients, \(database)")
        print(String(format: "  elapsed           %.2f s", elapsed.seconds))
        print(String(format: "  throughput        %.0f span operations/s (%.0f pairs/s)", operations / elapsed.seconds, Double(pairs) / elapsed.seconds))
        print(String(format: "  latency p50       %.2f ms", percentile(0.50)))
        print(String(format: "  latency p99       %.2f ms", percentile(0.99)))
    }

    /// One span create and its finish, sent as the official Python SDK sends them, with a lean client (raw
    /// AsyncHTTPClient requests) so that the measurement is the server's; returns the latency of each request.
    func pair(_ client: APIClient, http: HTTPClient, instance: String, clock: ContinuousClock) async throws -> (Duration, Duration) {
        let base = client.configuration.apiURL
        let token = client.configuration.apiToken
        func post(_ path: String, _ body: String) async throws -> [UInt8] {
            var request = HTTPClientRequest(url: base + path)
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "X-Prefactor-SDK", value: "prefactor-swift-benchmark@1")
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
        let created = try await post(
            "/api/v1/agent_spans",
            #"{"details":{"agent_instance_id":"\#(instance)","schema_name":"agent:llm","status":"active","payload":{"model":"gpt-4","prompt":"hello"},"idempotency_key":"\#(IdempotencyKey.generate())"}}"#)
        let middle = clock.now
        guard let spanID = try JSONParser.parse(created)["details"]?["id"]?.stringValue else {
            throw ValidationError("span create answered without an id")
        }
        let timestamp = WireDate.format(Date(), style: .python)
        _ = try await post(
            "/api/v1/agent_spans/\(spanID)/finish",
            #"{"status":"complete","result_payload":{"response":"hi","tokens":42},"timestamp":"\#(timestamp)","idempotency_key":"\#(IdempotencyKey.generate())"}"#)
        return (middle - start, clock.now - middle)
    }
}
