import Foundation
import NIOHTTP1
import PrefactorServerTesting
import PrefactorWire
import Testing

@testable import PrefactorServer

/// Fault rules that cost nothing to unauthenticated clients, fault injection off unless asked for, JSON answers to
/// requests the HTTP parser rejects, and the authentication and file details of issue 13.
@Suite(.timeLimit(.minutes(1)))
struct HardeningTests {
    // MARK: Fault rules (item 3)

    @Test(arguments: [
        ("*", "", true), ("*", "/anything", true), ("/a*", "/a", true), ("/a*b", "/ab", true), ("/a*b", "/a", false),
        ("a*a", "a", false), ("*a*a*b", "xaxaxb", true), ("*a*a*b", "aab", true), ("*a*a*b", "ab", false),
        ("/api/v1/*/*/finish", "/api/v1/agent_spans/sp_1/finish", true),
        ("/api/v1/*/*/finish", "/api/v1/agent_spans/finish", false), ("/api/v1/*/*/finish", "/api/v1/a//finish", true),
        ("/api/v1/*/*/finish", "/api/v1/x/finis", false),
        ("/x", "/x", true), ("/x", "/xy", false), ("**", "q", true), ("*abab*", "aabaabab", true), ("*abab*", "abaab", false),
    ])
    func wildcardsMatchLikeTheirDefinition(pattern: String, path: String, expected: Bool) {
        #expect(FaultRule.glob(Array(pattern.utf8), Array(path.utf8)) == expected)
    }

    /// The patterns that took seconds to minutes with backtracking; each is answered well within the bound.
    @Test func pathologicalPatternsAndPathsMatchQuickly() {
        let start = ContinuousClock.now
        let long = Array(("/api/v1/" + String(repeating: "a/", count: 16_000)).utf8)
        #expect(!FaultRule.glob(Array("POST /api/v1/*/*/finish".utf8), long))
        #expect(!FaultRule.glob(Array("*a*a*a*a*a*a*a*a*b".utf8), Array(String(repeating: "a", count: 40).utf8)))
        #expect(!FaultRule.glob(Array("*a*a*a*a*a*a*a*a*b".utf8), Array(String(repeating: "a", count: 100_000).utf8)))
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test func aLongPathAgainstAWildcardRuleIsAnsweredQuickly() async throws {
        let rules = [
            try FaultRule(parsing: "POST /api/v1/*/*/finish:status=503"), try FaultRule(parsing: "*a*a*a*a*a*a*a*a*b:status=500"),
        ]
        try await withAPI(faults: rules) { api in
            let start = ContinuousClock.now
            let path = "/api/v1/" + String(repeating: "a/", count: 16_000)
            try await api.send(.POST, path, body: .json([:]), authorization: .none).expectError(401, "unauthorized")
            try await api.send(.POST, path, body: .json([:])).expectError(404, "not_found")
            try await api.get("/api/v1/" + String(repeating: "a", count: 40)).expectError(404, "not_found")
            try await api.get("/api/v1/ping").expectSuccess()
            #expect(ContinuousClock.now - start < .seconds(20))
        }
    }

    /// Requests without the token are refused before any fault applies: they neither wait for latency nor use up
    /// a counted rule.
    @Test func unauthenticatedRequestsUseUpNoCountedFault() async throws {
        try await withAPI(allowServerErrors: true) { api in
            api.server.faults.add(try FaultRule(parsing: "GET /api/v1/ping:status=503,count=3"))
            for _ in 0..<3 {
                try await api.get("/api/v1/ping", authorization: .none).expectError(401, "unauthorized")
            }
            #expect(api.server.faults.current.first?.count == 3)
            for _ in 0..<3 { try await api.get("/api/v1/ping").expectError(503, "injected_fault") }
            try await api.get("/api/v1/ping").expectSuccess()
        }
    }

    // MARK: Fault injection off by default (item 4)

    @Test func faultInjectionIsOffUnlessAskedFor() {
        #expect(ServerConfiguration(token: "t").faultInjection == false)
        #expect(ServerConfiguration(token: "t", faults: [FaultRule(path: "*", status: 500)]).faultInjection)
        #expect(ServerConfiguration(token: "t", faultInjection: true).faultInjection)
    }

    @Test func withoutFaultInjectionTheFaultRoutesDoNotExistAndRulesDoNothing() async throws {
        let server = try PrefactorAPIServer(configuration: ServerConfiguration(host: "127.0.0.1", port: 0, token: "test-token"))
        try await withTestServer(server) { running in
            let api = API(running)
            try await api.get("/__prefactor/faults").expectError(404, "not_found")
            try await api.post("/__prefactor/faults", ["path": "*", "status": 500]).expectError(404, "not_found")
            running.faults.add(FaultRule(path: "*", status: 500))
            try await api.get("/api/v1/ping").expectSuccess()
            try await api.get("/__prefactor/stats").expectSuccess()
        }
    }

    // MARK: HTTP-parser rejections (item 6)

    static func rawRequest(_ port: Int, _ request: String) async throws -> RawHTTP.Response {
        try await RawHTTP.exchange(port: port, request: request)
    }

    static func expectJSONError(_ response: RawHTTP.Response, _ status: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == status, "\(response.head)", sourceLocation: sourceLocation)
        #expect(
            response.head.lowercased().contains("content-type: application/json"), "\(response.head)",
            sourceLocation: sourceLocation)
        let json = try? JSONValue(parsing: Data(response.body))
        #expect(json?["status"] == "error", "\(String(decoding: response.body, as: UTF8.self))", sourceLocation: sourceLocation)
        #expect(json?["message"]?.stringValue?.isEmpty == false, sourceLocation: sourceLocation)
    }

    @Test(arguments: [
        ("zz", "zz\r\n{}\r\n0\r\n\r\n"), ("negative", "-5\r\n{}\r\n0\r\n\r\n"),
        ("17 digits", "10000000000000000\r\n{}\r\n0\r\n\r\n"), ("mismatch", "5\r\n{}\r\n0\r\n\r\n"),
    ])
    func aMalformedChunkedBodyIsA400(label: String, chunks: String) async throws {
        try await withAPI { api in
            let request =
                "POST /api/v1/agent_instance/register HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(api.server.token)\r\n"
                + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
            Self.expectJSONError(try await Self.rawRequest(api.server.port, request), 400)
        }
    }

    @Test(arguments: [
        ("unknown method", "FROB /api/v1/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
        ("non-ASCII path", "GET /api/v1/p\u{e9}ng HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
        ("bad header", "GET /api/v1/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: x\r\n\r\n"),
        ("huge query", "GET /api/v1/ping?q=" + String(repeating: "a", count: 120_000) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
        ("not HTTP", "hello\r\n\r\n"),
    ])
    func parserRejectionsAnswerTheJSONEnvelope(label: String, request: String) async throws {
        try await withAPI { api in
            Self.expectJSONError(try await Self.rawRequest(api.server.port, request), 400)
        }
    }

    @Test func connectIsAnsweredWithACompleteJSONError() async throws {
        try await withAPI { api in
            let request =
                "CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\nAuthorization: Bearer \(api.server.token)\r\n\r\n"
            let response = try await Self.rawRequest(api.server.port, request)
            #expect(response.head.lowercased().contains("content-length:"), "\(response.head)")
            Self.expectJSONError(response, 405)
        }
    }

    // MARK: Authentication (item 8)

    @Test(arguments: ["bearer", "BEARER", "bEaReR"])
    func theSchemeIsCaseInsensitive(scheme: String) async throws {
        try await withAPI { api in
            try await api.get("/api/v1/ping", authorization: .header("\(scheme) \(api.server.token)")).expectSuccess()
        }
    }

    @Test(arguments: ["Bearer TEST-TOKEN", "bearer Test-token", "Bearer\ttest-token", "Bearertest-token"])
    func theTokenStaysExact(header: String) async throws {
        try await withAPI { api in
            try await api.get("/api/v1/ping", authorization: .header(header)).expectError(401, "unauthorized")
        }
    }

    // MARK: Files (item 8)

    @Test func theDatabaseFilesAreReadableByTheOwnerOnly() async throws {
        try await RestartTests.withTemporaryDatabase { path in
            try await withAPI(database: .file(path)) { api in
                _ = try await api.registerID()
            }
            for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
                let attributes = try FileManager.default.attributesOfItem(atPath: file)
                let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
                #expect(mode & 0o077 == 0, "\(file) has mode \(String(mode, radix: 8))")
            }
        }
    }
}
