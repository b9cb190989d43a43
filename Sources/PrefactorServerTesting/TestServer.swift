import Logging
import PrefactorServer
import ServiceLifecycle

/// A running local Prefactor API server on a loopback port, for tests.
public struct TestServer: Sendable {
    /// The server's origin, e.g. `http://127.0.0.1:53211`.
    public let baseURL: String
    /// The bound port.
    public let port: Int
    /// The bearer token the server requires.
    public let token: String
    /// The server itself: its faults and its request log.
    public let server: PrefactorAPIServer

    /// The live fault rules.
    public var faults: FaultInjector { server.faults }
    /// The requests the server received.
    public var requests: RequestLog { server.requests }
}

/// An error starting the test server.
public struct TestServerError: Error, CustomStringConvertible {
    /// What went wrong.
    public var description: String
}

/// Runs a real local Prefactor API server on `127.0.0.1` and a free port for the duration of `body`, then shuts it
/// down gracefully.
///
/// - Parameters:
///   - token: The bearer token the server requires.
///   - database: Where the server stores data (in memory by default).
///   - faults: Faults in force from the start.
///   - faultInjection: Whether faults apply and `/__prefactor/faults` exists (on by default, unlike `serve`).
///   - limits: Timeouts and the connection limit.
///   - body: The test, given the running server.
/// - Returns: What `body` returns.
/// - Throws: What `body` throws, or an error when the server cannot start.
public func withTestServer<T: Sendable>(
    token: String = "test-token",
    database: DatabaseLocation = .inMemory,
    faults: [FaultRule] = [],
    faultInjection: Bool = true,
    limits: ConnectionLimits = .default,
    _ body: (TestServer) async throws -> T
) async throws -> T {
    let configuration = ServerConfiguration(
        host: "127.0.0.1", port: 0, database: database, token: token, faults: faults, faultInjection: faultInjection,
        limits: limits)
    return try await withTestServer(PrefactorAPIServer(configuration: configuration), body)
}

/// Runs a server made by the caller (configured for `127.0.0.1` and port 0) for the duration of `body`, then shuts
/// it down gracefully.
///
/// - Parameters:
///   - server: The server to run.
///   - body: The test, given the running server.
/// - Returns: What `body` returns.
/// - Throws: What `body` throws, or an error when the server cannot start.
package func withTestServer<T: Sendable>(
    _ server: PrefactorAPIServer, _ body: (TestServer) async throws -> T
) async throws -> T {
    let token = server.configuration.token
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let application = server.makeApplication { port in
        continuation.yield(port)
        continuation.finish()
    }
    let group = ServiceGroup(
        services: [application], gracefulShutdownSignals: [],
        logger: Logger(label: "prefactor.test-server", factory: { _ in SwiftLogNoOpLogHandler() }))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask {
            defer { continuation.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            try await tasks.waitForAll()
            throw TestServerError(description: "the test server stopped before it was listening")
        }
        let running = TestServer(baseURL: "http://127.0.0.1:\(port)", port: port, token: token, server: server)
        do {
            let result = try await body(running)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}
