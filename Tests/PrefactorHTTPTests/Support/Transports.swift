import Foundation
import PrefactorHTTP
import PrefactorWire
import Synchronization

/// A request as a transport saw it, with easy access to headers and the JSON body.
struct SentRequest: Sendable {
    var spec: HTTPRequestSpec

    var method: String { spec.method }
    var url: String { spec.url }
    /// The path after the origin, with the query.
    var pathAndQuery: String {
        guard let schemeEnd = url.range(of: "://"), let slash = url[schemeEnd.upperBound...].firstIndex(of: "/") else {
            return url
        }
        return String(url[slash...])
    }
    var path: String { String(pathAndQuery.prefix { $0 != "?" }) }
    var query: String? {
        guard let mark = pathAndQuery.firstIndex(of: "?") else { return nil }
        return String(pathAndQuery[pathAndQuery.index(after: mark)...])
    }
    /// Query items, percent-decoded, in order.
    var queryItems: [(String, String)] {
        guard let query else { return [] }
        return query.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map {
                String($0).removingPercentEncoding ?? String($0)
            }
            return (parts[0], parts.count > 1 ? parts[1] : "")
        }
    }

    /// Every value of a header, case-insensitively.
    func headers(_ name: String) -> [String] {
        spec.headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
    }

    func header(_ name: String) -> String? {
        let values = headers(name)
        return values.count == 1 ? values[0] : nil
    }

    var json: JSONValue? {
        spec.body.flatMap { try? JSONValue(parsing: Data($0)) }
    }
}

/// Records every request before handing it to a real ``AsyncHTTPClientTransport``: the seam the architecture allows
/// for observing headers and bodies.
final class RecordingTransport: HTTPTransport {
    private let inner: any HTTPTransport
    private let recorded = Mutex<[SentRequest]>([])

    init(inner: any HTTPTransport = AsyncHTTPClientTransport()) {
        self.inner = inner
    }

    func send(_ request: HTTPRequestSpec, timeout: Duration) async throws(PrefactorHTTPError) -> HTTPResponseData {
        recorded.withLock { $0.append(SentRequest(spec: request)) }
        return try await inner.send(request, timeout: timeout)
    }

    func shutdown() async throws {
        try await inner.shutdown()
    }

    var requests: [SentRequest] { recorded.withLock { $0 } }

    func requests(method: String? = nil, path: String) -> [SentRequest] {
        requests.filter { (method == nil || $0.method == method) && $0.path == path }
    }

    var last: SentRequest? { requests.last }
}

/// A transport double answering from a script, for pure unit tests of response handling (no network).
final class ScriptedTransport: HTTPTransport {
    typealias Reply = Result<HTTPResponseData, PrefactorHTTPError>

    private let state: Mutex<(replies: [Reply], sent: [SentRequest], shutDown: Bool)>

    /// - Parameter replies: Answers in order; the last one repeats.
    init(_ replies: [Reply]) {
        precondition(!replies.isEmpty)
        state = Mutex((replies, [], false))
    }

    convenience init(status: Int, body: String) {
        self.init([.success(HTTPResponseData(status: status, body: Array(body.utf8)))])
    }

    func send(_ request: HTTPRequestSpec, timeout: Duration) async throws(PrefactorHTTPError) -> HTTPResponseData {
        let reply = state.withLock { state -> Reply in
            state.sent.append(SentRequest(spec: request))
            return state.replies.count > 1 ? state.replies.removeFirst() : state.replies[0]
        }
        return try reply.get()
    }

    func shutdown() async throws {
        state.withLock { $0.shutDown = true }
    }

    var requests: [SentRequest] { state.withLock { $0.sent } }
    var isShutDown: Bool { state.withLock { $0.shutDown } }

    static func reply(_ status: Int, _ body: String) -> Reply {
        .success(HTTPResponseData(status: status, body: Array(body.utf8)))
    }
}
