import Foundation
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Synchronization
import Testing

/// The write-ahead log of a database file stays bounded under writes that never pause (issue 13, item 5).
@Suite(.timeLimit(.minutes(2)))
struct WriteAheadLogTests {
    static func size(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
    }

    /// Eight clients create and finish spans without a pause while the log's size is sampled. The server is set
    /// to empty its log past 1 MiB, so the log must stay within a few MiB; background checkpoints alone never
    /// catch up with such a load, and the log would grow with every write.
    @Test func theLogStaysBoundedUnderSustainedWrites() async throws {
        try await RestartTests.withTemporaryDatabase { path in
            var configuration = ServerConfiguration(host: "127.0.0.1", port: 0, database: .file(path), token: "test-token")
            configuration.walCheckpointBytes = 1 << 20
            let server = try PrefactorAPIServer(configuration: configuration)
            try await withTestServer(server) { running in
                let api = API(running)
                let instance = try await api.registerID()
                let largest = Mutex<Int>(0)
                let writing = Atomic<Bool>(true)
                let sampler = Task.detached {
                    while writing.load(ordering: .relaxed) {
                        let now = Self.size(path + "-wal")
                        largest.withLock { $0 = Swift.max($0, now) }
                        try? await Task.sleep(for: .milliseconds(5))
                    }
                }
                let payload: JSONValue = ["text": .string(String(repeating: "x", count: 2_000))]
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            for _ in 0..<120 {
                                let span = try await api.createSpanID(instance: instance, ["payload": payload])
                                let reply = try await api.post("/api/v1/agent_spans/\(span)/finish", ["result_payload": payload])
                                reply.expectSuccess()
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                writing.store(false, ordering: .relaxed)
                await sampler.value
                let last = Self.size(path + "-wal")
                let peak = largest.withLock { Swift.max($0, last) }
                #expect(peak < 8 << 20, "the write-ahead log reached \(peak) bytes")
                #expect(try await api.spanCounts(instance)["complete"] == 960)
            }
        }
    }
}
