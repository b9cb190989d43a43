import Synchronization

/// One request the server received.
public struct RecordedRequest: Sendable, Hashable {
    /// The HTTP method.
    public var method: String
    /// The path, without the query.
    public var path: String
    /// The query string, if any.
    public var query: String?
    /// The status answered (0 when the connection was dropped).
    public var status: Int
}

/// Counts and remembers the requests a server received, so tests can assert what a client sent.
public final class RequestLog: Sendable {
    private struct State {
        var recent: [RecordedRequest] = []
        var total = 0
    }

    /// How many requests are remembered; older ones are forgotten (but still counted).
    public let capacity: Int
    private let state = Mutex(State())

    /// Creates a log remembering up to `capacity` requests.
    public init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    func record(_ request: RecordedRequest) {
        state.withLock { state in
            state.total += 1
            if state.recent.count >= capacity { state.recent.removeFirst(state.recent.count / 2) }
            state.recent.append(request)
        }
    }

    /// All requests received since start (or the last ``reset()``).
    public var totalCount: Int { state.withLock { $0.total } }

    /// The remembered requests, oldest first.
    public var requests: [RecordedRequest] { state.withLock { $0.recent } }

    /// The remembered requests matching a method and a path prefix.
    ///
    /// - Parameters:
    ///   - method: The method, or `nil` for any.
    ///   - pathPrefix: The start of the path.
    /// - Returns: The matching requests, oldest first.
    public func requests(method: String? = nil, pathPrefix: String = "") -> [RecordedRequest] {
        requests.filter { (method == nil || $0.method == method) && $0.path.hasPrefix(pathPrefix) }
    }

    /// Forgets everything.
    public func reset() {
        state.withLock { $0 = State() }
    }
}
