import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import Synchronization

/// How long the server waits for its clients, and how many it serves at once.
public struct ConnectionLimits: Sendable, Hashable {
    /// How long a connection may sit without a request before it is closed.
    public var idleTimeout: Duration
    /// How long a request head may take to arrive once its first bytes did.
    public var headerTimeout: Duration
    /// How long a whole request (head and body) may take to arrive once its head did.
    public var requestTimeout: Duration
    /// How long a connection the server is closing may still send before it is cut off: the rest of a request
    /// body the server did not read is read and thrown away for at most this long.
    public var lingerTimeout: Duration
    /// The most connections served at once; further clients wait in the listen backlog.
    public var maxConnections: Int

    /// The defaults: 30 s idle, 10 s for a head, 60 s for a whole request, 5 s linger, 512 connections.
    public static let `default` = ConnectionLimits()

    /// Creates limits.
    public init(
        idleTimeout: Duration = .seconds(30), headerTimeout: Duration = .seconds(10), requestTimeout: Duration = .seconds(60),
        lingerTimeout: Duration = .seconds(5), maxConnections: Int = 512
    ) {
        self.idleTimeout = idleTimeout
        self.headerTimeout = headerTimeout
        self.requestTimeout = requestTimeout
        self.lingerTimeout = lingerTimeout
        self.maxConnections = maxConnections
    }
}

/// Counts the open connections and stops accepting more at the limit (Hummingbird then leaves new clients in the
/// listen backlog until a connection closes).
struct ConnectionCount: AvailableConnectionsDelegate {
    let open: OpenConnections
    let maximum: Int

    mutating func connectionOpened() {
        open.count.add(1, ordering: .relaxed)
    }

    mutating func connectionClosed() {
        open.count.subtract(1, ordering: .relaxed)
    }

    func isAcceptingNewConnections() -> Bool {
        open.count.load(ordering: .relaxed) < maximum
    }
}

/// The number of connections a server has open.
final class OpenConnections: Sendable {
    let count = Atomic<Int>(0)
}

/// Hummingbird's HTTP/1 channel with the server's connection limits around it: a request head and a request must
/// arrive in bounded time, and a connection the server closes after a response is closed for good within the linger
/// time, whether or not the client sent the rest of its body (a `Connection: close` request whose body was not read,
/// e.g. answered 401 or 413, would otherwise wait forever for a close from the client the server no longer reads).
///
/// Requests the HTTP parser rejects are answered with the JSON error envelope like any other 400.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let inner: HTTP1Channel
    let limits: ConnectionLimits

    init(responder: @escaping HTTPChannelHandler.Responder, limits: ConnectionLimits) {
        self.limits = limits
        self.inner = HTTP1Channel(responder: responder, configuration: .init(idleTimeout: TimeAmount(limits.idleTimeout)))
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let watch = ConnectionWatch()
        do {
            try channel.pipeline.syncOperations.addHandler(RawConnectionHandler(limits: limits, watch: watch), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        let limits = self.limits
        let shared = NIOLoopBound(watch, eventLoop: channel.eventLoop)
        return inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            // Right after the HTTP parser, before Hummingbird's connection state.
            let operations = channel.pipeline.syncOperations
            let state = try operations.handler(type: HTTPConnectionStateHandler.self)
            try operations.addHandler(RequestWatchHandler(limits: limits, watch: shared.value), position: .before(state))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// What the two handlers of one connection share: whether a request head is awaited, and the deadlines.
///
/// Lives on the connection's event loop only.
final class ConnectionWatch {
    var awaitingHead = true
    /// When the head of the request being read must have arrived.
    let header = Deadline()
    /// When the request being read must have arrived whole.
    let request = Deadline()
    var lingering = false
    /// Writes bytes straight to the socket, under the HTTP encoder, then closes the connection.
    var answerRaw: ((String) -> Void)?

    func cancelTimers() {
        header.cancel()
        request.cancel()
    }
}

/// A deadline set and cleared with each request, whose timer is armed lazily and kept across requests.
///
/// Setting and clearing the deadline is a store: when the timer fires before the deadline in force (set since for a
/// later request) it is armed again for that deadline, and when no deadline is in force it stays unarmed until the
/// next one is set. A connection sending request after request thus schedules a timer once per timeout at most,
/// instead of scheduling and cancelling one for every request, and a deadline still takes effect at its time.
///
/// Lives on the connection's event loop only.
final class Deadline {
    /// The deadline in force; `nil` when none is.
    private(set) var due: NIODeadline?
    private var timer: Scheduled<Void>?

    /// Whether a timer is armed (for the deadline in force or an earlier one).
    var isArmed: Bool { timer != nil }

    /// Sets the deadline; then ``arm(on:expire:)`` when ``isArmed`` is `false`.
    func set(_ deadline: NIODeadline) { due = deadline }

    /// Clears the deadline, leaving its timer armed.
    func clear() { due = nil }

    /// Arms the timer for the deadline in force: `expire` runs once the deadline in force has passed.
    func arm(on eventLoop: any EventLoop, expire: @escaping () -> Void) {
        guard let due, timer == nil else { return }
        timer = eventLoop.assumeIsolated().scheduleTask(deadline: due) {
            self.timer = nil
            guard let due = self.due else { return }
            if due <= .now() {
                self.due = nil
                expire()
            } else {
                self.arm(on: eventLoop, expire: expire)
            }
        }
    }

    /// Clears the deadline and cancels its timer.
    func cancel() {
        due = nil
        timer?.cancel()
        timer = nil
    }
}

/// First in the pipeline, on raw bytes: starts the header timer when the bytes of a new request arrive, and once the
/// server has closed its side of the connection, reads and discards what the client still sends until it closes too,
/// for at most the linger time.
final class RawConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let limits: ConnectionLimits
    let watch: ConnectionWatch
    private var lingerDeadline: Scheduled<Void>?

    init(limits: ConnectionLimits, watch: ConnectionWatch) {
        self.limits = limits
        self.watch = watch
    }

    func handlerAdded(context: ChannelHandlerContext) {
        watch.answerRaw = { [unowned self] text in
            guard !self.watch.lingering else { return }
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: text)), promise: nil)
            self.close(context: context, mode: .output, promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        watch.answerRaw = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if watch.lingering { return }
        if watch.awaitingHead, watch.header.due == nil {
            watch.header.set(.now() + TimeAmount(limits.headerTimeout))
            if !watch.header.isArmed {
                let channel = context.channel
                watch.header.arm(on: context.eventLoop) { channel.close(promise: nil) }
            }
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if watch.lingering {
            context.read()
            return
        }
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        context.read()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        context.close(mode: mode, promise: promise)
        guard mode == .output, !watch.lingering else { return }
        watch.lingering = true
        watch.cancelTimers()
        let channel = context.channel
        lingerDeadline = context.eventLoop.scheduleTask(in: TimeAmount(limits.lingerTimeout)) {
            channel.close(promise: nil)
        }
        context.read()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A client that resets the connection while the server discards its body is no news.
        if watch.lingering { return }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        watch.cancelTimers()
        lingerDeadline?.cancel()
        lingerDeadline = nil
        context.fireChannelInactive()
    }
}

/// A request that did not arrive whole within ``ConnectionLimits/requestTimeout``.
struct RequestTimedOut: Error {}

/// After the HTTP parser: times each request from its head to its end, and turns the empty 400 Hummingbird answers
/// to a request the parser rejects into the JSON error envelope.
final class RequestWatchHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let limits: ConnectionLimits
    let watch: ConnectionWatch
    private var parserError: HTTPParserError?
    private var pendingErrorBody: ByteBuffer?

    init(limits: ConnectionLimits, watch: ConnectionWatch) {
        self.limits = limits
        self.watch = watch
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head) where head.method == .connect:
            // This is no proxy. NIO's encoder sends an answer to CONNECT without its body (a 2xx one would open a
            // tunnel), so the answer goes out under it, complete, and the connection closes.
            let error = APIError.methodNotAllowed(method: "CONNECT", path: head.authority ?? "")
            let answer =
                "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(error.body.utf8.count)\r\nConnection: close\r\n\r\n" + error.body
            watch.cancelTimers()
            watch.answerRaw?(answer)
            return
        case .head:
            watch.awaitingHead = false
            watch.header.clear()
            watch.request.set(.now() + TimeAmount(limits.requestTimeout))
            if !watch.request.isArmed {
                watch.request.arm(on: context.eventLoop) {
                    // The request fails before the connection closes: a body cut short must not read as a whole one.
                    context.fireErrorCaught(RequestTimedOut())
                    context.close(promise: nil)
                }
            }
        case .body:
            break
        case .end:
            watch.awaitingHead = true
            watch.request.clear()
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? HTTPParserError { parserError = error }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where parserError != nil && head.status == .badRequest && head.headerFields[.contentType] == nil:
            let error = APIError.badRequest("The request is not valid HTTP/1.1 (\(Self.describe(parserError)))")
            var body = context.channel.allocator.buffer(capacity: 256)
            body.writeString(error.body)
            head.headerFields[.contentType] = "application/json"
            head.headerFields[.contentLength] = String(body.readableBytes)
            head.headerFields[.connection] = "close"
            pendingErrorBody = body
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end(let trailers):
            if let body = pendingErrorBody {
                pendingErrorBody = nil
                context.write(wrapOutboundOut(.body(body)), promise: nil)
            }
            context.write(wrapOutboundOut(.end(trailers)), promise: promise)
        default:
            context.write(data, promise: promise)
        }
    }

    static func describe(_ error: HTTPParserError?) -> String {
        switch error {
        case .invalidMethod?: return "unknown method"
        case .invalidURL?: return "invalid request target"
        case .headerOverflow?: return "request head too large"
        case .invalidHeaderToken?: return "invalid header"
        case .invalidChunkSize?: return "invalid chunk size"
        case .invalidContentLength?: return "invalid Content-Length"
        default: return "malformed request"
        }
    }
}
