import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import PrefactorWire

extension Response {
    static func json(status: Int, _ body: String) -> Response {
        var buffer = ByteBuffer()
        buffer.writeString(body)
        return Response(
            status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }
}

/// Turns every failure into the spec's JSON error envelope and records each request in the ``RequestLog``.
struct ErrorEnvelopeMiddleware: RouterMiddleware {
    typealias Context = ServerRequestContext
    let log: RequestLog
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response
    {
        let response: Response
        do {
            response = try await next(request, context)
        } catch let error as APIError {
            response = .json(status: error.status, error.body)
        } catch is ConnectionDropped {
            log.record(
                RecordedRequest(method: request.method.rawValue, path: request.uri.path, query: request.uri.query, status: 0))
            throw HTTPError(.internalServerError)
        } catch let error as HTTPParserError {
            // The body did not parse (e.g. a chunk size that is not hexadecimal): the connection cannot be reused.
            let apiError = APIError.badRequest(
                "The request body is not valid HTTP/1.1 (\(RequestWatchHandler.describe(error)))")
            var rejected = Response.json(status: apiError.status, apiError.body)
            rejected.headers[.connection] = "close"
            response = rejected
        } catch let error as HTTPError {
            let apiError: APIError
            switch error.status.code {
            case 404:
                apiError = .noRoute(method: request.method.rawValue, path: request.uri.path)
            case 405:
                apiError = .methodNotAllowed(method: request.method.rawValue, path: request.uri.path)
            default:
                apiError = APIError(
                    status: Int(error.status.code), code: "http_error", message: error.body ?? error.status.reasonPhrase)
            }
            response = .json(status: apiError.status, apiError.body)
        } catch  where error is RequestTimedOut || !context.channel.isActive {
            // The connection is cut off (a body that came too slowly) or gone: nobody to answer, nothing wrong with
            // the server.
            logger.debug("Connection closed during the request", metadata: ["prefactor.path": "\(request.uri.path)"])
            log.record(
                RecordedRequest(method: request.method.rawValue, path: request.uri.path, query: request.uri.query, status: 0))
            throw error
        } catch {
            logger.error("Unhandled error", metadata: ["prefactor.path": "\(request.uri.path)", "error": "\(error)"])
            response = .json(status: 500, APIError.internalError.body)
        }
        log.record(
            RecordedRequest(
                method: request.method.rawValue, path: request.uri.path, query: request.uri.query,
                status: Int(response.status.code)))
        if request.headers[.connection]?.lowercased() == "close" {
            // Said back, so the client knows the connection ends with this answer (RFC 9112 §9.6).
            var closing = response
            closing.headers[.connection] = "close"
            return closing
        }
        return response
    }
}

struct ConnectionDropped: Error {}

/// Applies the scripted faults of a ``FaultInjector`` (never to the server's own `/__prefactor` routes). Runs after
/// ``AuthMiddleware``, so a request without the token never waits for a fault nor uses up a counted one.
struct FaultMiddleware: RouterMiddleware {
    typealias Context = ServerRequestContext
    let faults: FaultInjector

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response
    {
        guard faults.isActive else { return try await next(request, context) }
        let path = request.uri.path
        guard !path.hasPrefix("/__prefactor"),
            let decision = faults.decide(method: request.method.rawValue, path: path)
        else {
            return try await next(request, context)
        }
        if decision.latencyMilliseconds > 0 {
            try await Task.sleep(for: .milliseconds(decision.latencyMilliseconds))
        }
        if decision.dropConnection {
            try? await context.channel.close()
            throw ConnectionDropped()
        }
        if let status = decision.status {
            let error = APIError(
                status: status, code: "injected_fault", message: "Fault injected by the test server (HTTP \(status))")
            return .json(status: status, error.body)
        }
        return try await next(request, context)
    }
}

/// Requires `Authorization: Bearer <token>` on every request. The scheme name is case-insensitive (RFC 9110
/// §11.1); the token is compared exactly.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = ServerRequestContext
    let token: [UInt8]

    init(token: String) {
        self.token = Array(token.utf8)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response
    {
        guard let header = request.headers[.authorization], Self.hasBearerScheme(header.utf8) else {
            throw APIError.unauthorized
        }
        let presented = header.utf8.dropFirst(7)
        // Compare in constant time for equal lengths.
        var difference = presented.count == token.count ? 0 : 1
        for (byte, expected) in zip(presented, token) {
            difference |= Int(byte ^ expected)
        }
        guard difference == 0 else { throw APIError.unauthorized }
        return try await next(request, context)
    }

    /// `bearer ` in lower case, made once rather than for every request.
    private static let bearerScheme = Array("bearer ".utf8)

    /// Whether a header value starts with `Bearer ` in any letter case.
    static func hasBearerScheme(_ header: String.UTF8View) -> Bool {
        let scheme = bearerScheme
        guard header.count >= scheme.count else { return false }
        return zip(header, scheme).allSatisfy { byte, expected in
            let lowered = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 0x20 : byte
            return lowered == expected
        }
    }
}
