import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Synchronization
import Testing

/// A failed wait: the condition never held.
struct TimedOut: Error, CustomStringConvertible {
    var description: String
}

/// Waits until `condition` holds, checking every few milliseconds. The limit only turns a hang into a clear failure;
/// the tests never rely on how fast something happens.
func eventually(
    _ what: String, limit: Duration = .seconds(30), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    while true {
        if try await condition() { return }
        guard ContinuousClock.now < deadline else {
            Issue.record("Timed out waiting until \(what)", sourceLocation: sourceLocation)
            throw TimedOut(description: what)
        }
        try await Task.sleep(for: .milliseconds(5))
    }
}

/// Runs a client (its workers) for the duration of `body`, then shuts it down: returns `body`'s value and the
/// delivery report. Unlike `withPrefactorClient`, an incomplete report is returned rather than thrown.
func withRunningClient<T: Sendable>(
    _ configuration: PrefactorClient.Configuration, _ body: (PrefactorClient) async throws -> T
) async throws -> (value: T, report: DeliveryReport) {
    let client = try PrefactorClient(configuration: configuration)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await client.run() }
        let result: Result<T, any Error>
        do {
            result = .success(try await body(client))
        } catch {
            result = .failure(error)
        }
        let report = await client.shutdown()
        try await group.waitForAll()
        return (try result.get(), report)
    }
}

/// Registers an instance with an empty schema version.
func registerInstance(_ client: PrefactorClient) async throws -> AgentInstanceHandle {
    try await client.createAgentInstance(agentVersion: testAgentVersion, agentSchemaVersion: [:])
}

/// Collects every event of a stream in the background.
final class EventRecorder: Sendable {
    private final class Storage: Sendable {
        let events = Mutex<[ClientEvent]>([])
    }

    private let storage = Storage()
    private let task: Task<Void, Never>

    init(_ stream: AsyncStream<ClientEvent>) {
        let storage = self.storage
        task = Task {
            for await event in stream { storage.events.withLock { $0.append(event) } }
        }
    }

    /// The events so far.
    var events: [ClientEvent] { storage.events.withLock { $0 } }

    /// Waits until the stream ends (the client shut down) and returns every event.
    func finished() async -> [ClientEvent] {
        await task.value
        return events
    }
}

/// A small deterministic generator (SplitMix64), so that a failing seed can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension TestServer {
    /// The POSTs the server answered, oldest first, as `"<path>"` (the log records a request once it is answered).
    func posts(_ prefix: String = "/api/v1/") -> [RecordedRequest] {
        requests.requests(method: "POST", pathPrefix: prefix)
    }
}

/// The index of the first request matching `predicate`, failing the test when there is none.
func index(
    of what: String, in log: [RecordedRequest], sourceLocation: SourceLocation = #_sourceLocation,
    where predicate: (RecordedRequest) -> Bool
) throws -> Int {
    let found = log.firstIndex(where: predicate)
    return try #require(found, "no request: \(what)", sourceLocation: sourceLocation)
}

let spansPath = "/api/v1/agent_spans"

func isSpanCreate(_ request: RecordedRequest) -> Bool {
    request.method == "POST" && request.path == spansPath
}

func isSpanFinish(_ request: RecordedRequest, apiID: String? = nil) -> Bool {
    guard request.method == "POST", request.path.hasPrefix(spansPath + "/"), request.path.hasSuffix("/finish") else {
        return false
    }
    return apiID.map { request.path == "\(spansPath)/\($0)/finish" } ?? true
}

func instancePath(_ id: String, _ action: String) -> String {
    "/api/v1/agent_instance/\(id)/\(action)"
}

/// The span's API id, failing the test when its create was not delivered.
func apiID(
    _ client: PrefactorClient, _ id: String, sourceLocation: SourceLocation = #_sourceLocation
) throws -> String {
    try #require(client.spanManager.span(withID: id)?.apiID, "span \(id) has no API id", sourceLocation: sourceLocation)
}

/// The server's spans of an instance, by schema name (names are unique in the tests that use this).
func serverSpansByName(_ server: TestServer, instanceID: String) async throws -> [String: AgentSpan] {
    let spans = try await serverSpans(server, instanceID: instanceID)
    #expect(Set(spans.map(\.schemaName)).count == spans.count, "duplicate span names on the server")
    return Dictionary(spans.map { ($0.schemaName, $0) }, uniquingKeysWith: { first, _ in first })
}

/// A schema version with one quality schema named `accuracy`.
let qualitySchemaVersion: [String: JSONValue] = [
    "external_identifier": "test-schema-quality",
    "quality_schemas": [["name": "accuracy", "schema": ["type": "object"]]],
]

struct Boom: Error, CustomStringConvertible {
    var description: String { "boom" }
}
