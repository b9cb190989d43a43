import Foundation
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// Clients that hold connections: unread bodies, slow heads and bodies, idle sockets, too many sockets. Each test
/// runs a server with short limits and checks that the server lets go of the connection in bounded time.
@Suite(.timeLimit(.minutes(1)))
struct ConnectionLimitTests {
    /// Short limits, so a test waits fractions of a second; the bounds checked are many times larger. The linger
    /// time stays long enough for a loaded machine to send a whole body: cut off sooner, the client may lose the
    /// answer to the reset.
    static let short = ConnectionLimits(
        idleTimeout: .seconds(30), headerTimeout: .milliseconds(300), requestTimeout: .milliseconds(500),
        lingerTimeout: .seconds(2), maxConnections: 512)

    /// For the unread bodies: a request timer of 500 ms could cut a connection off before a loaded machine wrote its
    /// answer, which is not what those tests are about.
    static let patient = ConnectionLimits(
        idleTimeout: .seconds(30), headerTimeout: .seconds(10), requestTimeout: .seconds(30), lingerTimeout: .seconds(2),
        maxConnections: 512)

    /// Waits until the server has `expected` connections open, checking every 20 ms for at most `seconds`.
    static func waitForOpenConnections(
        _ server: TestServer, _ expected: Int, seconds: Double = 15, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while server.server.openConnections != expected && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(server.server.openConnections == expected, "open connections", sourceLocation: sourceLocation)
    }

    static func post(_ path: String, length: Int, token: String?, extraHeaders: String = "") -> String {
        var head = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        return head + "Content-Length: \(length)\r\n\(extraHeaders)\r\n"
    }

    // MARK: Unread bodies (issue 13, item 1)

    /// A `Connection: close` request answered before its body is read (401 here) must not leave the connection open
    /// once answered, even when the client keeps its socket open and never sends the rest.
    @Test(arguments: [true, false])
    func anUnreadBodyWithConnectionCloseIsLetGo(clientKeepsSocketOpen: Bool) async throws {
        try await withTestServer(limits: Self.patient) { server in
            let connection = try RawConnection(port: server.port)
            let length = 1_500_000
            await connection.send(
                Self.post("/api/v1/agent_spans", length: length, token: nil, extraHeaders: "Connection: close\r\n"))
            // Part of the body: the server answers 401 without reading it.
            await connection.send([UInt8](repeating: 0x20, count: 200_000))
            let response = try await connection.readResponse()
            #expect(response.status == 401)
            #expect(response.head.lowercased().contains("connection: close"))
            if clientKeepsSocketOpen {
                try await Self.waitForOpenConnections(server, 0)
                withExtendedLifetime(connection) {}
            } else {
                _ = consume connection
                try await Self.waitForOpenConnections(server, 0)
            }
        }
    }

    /// Fifty 1.5 MB bodies posted without a token and with `Connection: close`, the reproduction of issue 13: no
    /// connection outlives its answer.
    @Test func manyUnreadBodiesLeaveNoConnectionOpen() async throws {
        try await withTestServer(limits: Self.patient) { server in
            let body = [UInt8](repeating: 0x7B, count: 1_500_000)
            for _ in 0..<50 {
                let connection = try RawConnection(port: server.port)
                let head = Self.post("/api/v1/agent_spans", length: body.count, token: nil, extraHeaders: "Connection: close\r\n")
                async let sent = connection.send(Array(head.utf8) + body)
                let response = try await connection.readResponse()
                #expect(response.status == 401)
                _ = await sent
            }
            try await Self.waitForOpenConnections(server, 0)
        }
    }

    /// A body over the limit is refused with 413 and the connection is closed, not kept waiting for the body.
    @Test func aRefusedLargeBodyLeavesNoConnectionOpen() async throws {
        try await withTestServer(limits: Self.patient) { server in
            let connection = try RawConnection(port: server.port)
            await connection.send(
                Self.post(
                    "/api/v1/agent_spans", length: 5_000_000, token: server.token, extraHeaders: "Connection: close\r\n"))
            let response = try await connection.readResponse()
            #expect(response.status == 413)
            try await Self.waitForOpenConnections(server, 0)
            withExtendedLifetime(connection) {}
        }
    }

    // MARK: Timeouts (issue 13, item 2)

    @Test func aHeadThatStopsHalfwayIsCutOff() async throws {
        try await withTestServer(limits: Self.short) { server in
            let connection = try RawConnection(port: server.port)
            let start = ContinuousClock.now
            await connection.send("GET /api/v1/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthor")
            let (_, ending) = await connection.readToEnd()
            #expect(ending == .closed)
            #expect(ContinuousClock.now - start < .seconds(15))
            try await Self.waitForOpenConnections(server, 0)
        }
    }

    @Test func aBodyThatStopsHalfwayIsCutOff() async throws {
        try await withTestServer(limits: Self.short) { server in
            let connection = try RawConnection(port: server.port)
            await connection.send(Self.post("/api/v1/agent_instance/register", length: 100, token: server.token))
            // A valid JSON object, then nothing more of the 100 bytes promised: cut short, it must not count.
            await connection.send("{\"agent_version\": {}}")
            let (_, ending) = await connection.readToEnd()
            #expect(ending == .closed)
            try await Self.waitForOpenConnections(server, 0)
            // The request is logged as dropped (status 0), not as a server error, and registered nothing.
            let deadline = ContinuousClock.now + .seconds(15)
            while server.requests.requests.isEmpty && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(server.requests.requests.map(\.status) == [0])
            #expect(try await API(server).get("/api/v1/agent_instance").summaries().isEmpty)
        }
    }

    /// A body trickled a few bytes at a time is still cut off when the whole request takes too long.
    @Test func aTrickledBodyIsCutOffAtTheRequestTimeout() async throws {
        try await withTestServer(limits: Self.short) { server in
            let connection = try RawConnection(port: server.port)
            await connection.send(Self.post("/api/v1/agent_instance/register", length: 10_000, token: server.token))
            let trickle = Task {
                for _ in 0..<400 {
                    if await connection.send("  ") < 2 { return }
                    try await Task.sleep(for: .milliseconds(25))
                }
            }
            let (_, ending) = await connection.readToEnd()
            trickle.cancel()
            #expect(ending == .closed)
        }
    }

    @Test func anIdleConnectionIsClosed() async throws {
        var limits = Self.short
        limits.idleTimeout = .milliseconds(300)
        try await withTestServer(limits: limits) { server in
            // Silent from the start.
            let silent = try RawConnection(port: server.port)
            #expect(await silent.readToEnd().ending == .closed)
            // Idle after one answered request.
            let used = try RawConnection(port: server.port)
            await used.send("GET /api/v1/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(server.token)\r\n\r\n")
            #expect(try await used.readResponse().status == 200)
            #expect(await used.readToEnd().ending == .closed)
            try await Self.waitForOpenConnections(server, 0)
        }
    }

    /// Past the connection limit new clients wait; they are served as soon as a connection closes.
    @Test func clientsBeyondTheLimitWaitForAFreeConnection() async throws {
        var limits = Self.short
        limits.maxConnections = 2
        try await withTestServer(limits: limits) { server in
            var holders = [try RawConnection(port: server.port), try RawConnection(port: server.port)]
            try await Self.waitForOpenConnections(server, 2)
            let waiting = try RawConnection(port: server.port)
            await waiting.send("GET /api/v1/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(server.token)\r\n\r\n")
            let answer = Task { try await waiting.readResponse() }
            try await Task.sleep(for: .milliseconds(300))
            #expect(server.server.openConnections == 2, "the third client is not accepted while two are open")
            holders.removeFirst()
            #expect(try await answer.value.status == 200)
            withExtendedLifetime(holders) {}
        }
    }

    @Test func theDefaultsBoundEveryWait() {
        let limits = ConnectionLimits.default
        #expect(limits.idleTimeout <= .seconds(120))
        #expect(limits.headerTimeout <= .seconds(60))
        #expect(limits.requestTimeout <= .seconds(300))
        #expect(limits.lingerTimeout <= .seconds(10))
        #expect((1...10_000).contains(limits.maxConnections))
        #expect(ServerConfiguration(token: "t").limits == limits)
    }
}
