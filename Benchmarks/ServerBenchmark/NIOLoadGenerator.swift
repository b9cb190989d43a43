import Foundation
import NIOCore
import NIOPosix
import PrefactorWire

/// The requests of the benchmark, byte for byte as the official Python SDK sends them (bodies, and the headers the
/// benchmark has always sent): a span create with its key in `details`, and a flat span finish.
struct SpanRequests: Sendable {
    /// The `Host` header value, e.g. `127.0.0.1:4000`.
    var host: String
    var token: String
    var instanceID: String

    static let sdkHeader = "prefactor-swift-benchmark@1"

    static func createBody(instanceID: String) -> String {
        #"{"details":{"agent_instance_id":"\#(instanceID)","schema_name":"agent:llm","status":"active","payload":{"model":"gpt-4","prompt":"hello"},"idempotency_key":"\#(IdempotencyKey.generate())"}}"#
    }

    static func finishBody() -> String {
        let timestamp = WireDate.format(Date(), style: .python)
        return
            #"{"status":"complete","result_payload":{"response":"hi","tokens":42},"timestamp":"\#(timestamp)","idempotency_key":"\#(IdempotencyKey.generate())"}"#
    }

    func create() -> ByteBuffer {
        post("/api/v1/agent_spans", Self.createBody(instanceID: instanceID))
    }

    func finish(spanID: String) -> ByteBuffer {
        post("/api/v1/agent_spans/\(spanID)/finish", Self.finishBody())
    }

    func ping() -> ByteBuffer {
        ByteBuffer(string: "GET /api/v1/ping HTTP/1.1\r\nHost: \(host)\r\nAuthorization: Bearer \(token)\r\n\r\n")
    }

    private func post(_ path: String, _ body: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(body.utf8.count + 256)
        buffer.writeString(
            "POST \(path) HTTP/1.1\r\nHost: \(host)\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\n"
                + "X-Prefactor-SDK: \(Self.sdkHeader)\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
        buffer.writeString(body)
        return buffer
    }
}

struct LoadError: Error, CustomStringConvertible {
    var description: String
}

/// Runs span create+finish pairs over one keep-alive HTTP/1.1 connection, entirely on the channel's event loop:
/// it writes a request, reads the response by its `Content-Length`, and writes the next request. No HTTP codec, no
/// task hops: the least client work per request that still speaks real HTTP.
final class PairDriver: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Starts a run of `pairs` pairs; the promise gets the latency of every request, in nanoseconds.
    struct Start: Sendable {
        var pairs: Int
        var promise: EventLoopPromise<[UInt64]>
    }

    private let requests: SpanRequests
    private let pingOnly: Bool
    private var received = ByteBuffer()
    private var remaining = 0
    private var awaitingSecond = false
    private var sentAt: UInt64 = 0
    private var latencies: [UInt64] = []
    private var promise: EventLoopPromise<[UInt64]>?

    init(requests: SpanRequests, pingOnly: Bool) {
        self.requests = requests
        self.pingOnly = pingOnly
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let start = event as? Start else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        remaining = start.pairs
        latencies = []
        latencies.reserveCapacity(start.pairs * 2)
        promise = start.promise
        startNextPair(context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        received.writeBuffer(&bytes)
        do {
            while let (status, body) = try Self.takeResponse(from: &received) {
                try handle(context, status: status, body: body)
            }
            if received.readableBytes == 0 { received.clear() }
        } catch {
            promise?.fail(error)
            promise = nil
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise?.fail(LoadError(description: "the server closed the connection"))
        promise = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise?.fail(error)
        promise = nil
        context.close(promise: nil)
    }

    private func send(_ context: ChannelHandlerContext, _ request: ByteBuffer) {
        sentAt = NIODeadline.now().uptimeNanoseconds
        context.writeAndFlush(wrapOutboundOut(request), promise: nil)
    }

    private func handle(_ context: ChannelHandlerContext, status: Int, body: ByteBuffer) throws {
        latencies.append(NIODeadline.now().uptimeNanoseconds - sentAt)
        guard status == 200 else {
            throw LoadError(description: "HTTP \(status): \(String(buffer: body))")
        }
        if !awaitingSecond {
            awaitingSecond = true
            if pingOnly {
                send(context, requests.ping())
            } else {
                guard let spanID = Self.spanID(in: body) else {
                    throw LoadError(description: "span create answered without an id: \(String(buffer: body))")
                }
                send(context, requests.finish(spanID: spanID))
            }
            return
        }
        awaitingSecond = false
        remaining -= 1
        startNextPair(context)
    }

    /// Sends the first request of the next pair, or completes the run when none is left.
    private func startNextPair(_ context: ChannelHandlerContext) {
        if remaining == 0 {
            promise?.succeed(latencies)
            promise = nil
        } else {
            send(context, pingOnly ? requests.ping() : requests.create())
        }
    }

    /// Takes one whole response off the front of `buffer`: its status and body. `nil` until all of it arrived.
    static func takeResponse(from buffer: inout ByteBuffer) throws -> (Int, ByteBuffer)? {
        let head: (length: Int, status: Int, contentLength: Int?)? = buffer.withUnsafeReadableBytes { bytes in
            var end = 3
            while end < bytes.count,
                !(bytes[end] == 10 && bytes[end - 1] == 13 && bytes[end - 2] == 10 && bytes[end - 3] == 13)
            {
                end += 1
            }
            guard end < bytes.count, end >= 12 else { return nil }
            let status = (9..<12).reduce(0) { $0 * 10 + Int(bytes[$1]) - 48 }
            var contentLength: Int?
            var lineStart = 0
            for index in 0..<end where bytes[index] == 10 {
                let line = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<index])
                lineStart = index + 1
                let name = "content-length:".utf8
                guard line.count > name.count,
                    zip(line, name).allSatisfy({ ($0 | 0x20) == $1 })
                else { continue }
                contentLength = line.dropFirst(name.count).reduce(0) { (48...57).contains($1) ? $0 * 10 + Int($1) - 48 : $0 }
            }
            return (end + 1, status, contentLength)
        }
        guard let head else { return nil }
        guard let contentLength = head.contentLength else {
            throw LoadError(description: "a response without Content-Length (HTTP \(head.status))")
        }
        guard buffer.readableBytes >= head.length + contentLength else { return nil }
        buffer.moveReaderIndex(forwardBy: head.length)
        return (head.status, buffer.readSlice(length: contentLength)!)
    }

    /// The span id of a span create response: the first `"id":"...` member, which is `details.id`.
    static func spanID(in body: ByteBuffer) -> String? {
        let marker = Array(#""id":""#.utf8)
        return body.withUnsafeReadableBytes { bytes -> String? in
            guard bytes.count > marker.count else { return nil }
            for start in 0...(bytes.count - marker.count) where bytes[start] == marker[0] {
                guard zip(bytes[start...], marker).allSatisfy({ $0 == $1 }) else { continue }
                let value = bytes[(start + marker.count)...]
                guard let end = value.firstIndex(of: 0x22) else { return nil }
                return String(decoding: UnsafeRawBufferPointer(rebasing: value[..<end]), as: UTF8.self)
            }
            return nil
        }
    }
}

/// The lean load generator: one ``PairDriver`` per connection, one connection per concurrent worker.
struct NIOLoadGenerator {
    let channels: [any Channel]

    static func connect(
        host: String, port: Int, concurrency: Int, requests: SpanRequests, pingOnly: Bool, group: any EventLoopGroup
    ) async throws -> NIOLoadGenerator {
        let bootstrap = ClientBootstrap(group: group)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(PairDriver(requests: requests, pingOnly: pingOnly))
                }
            }
        var channels: [any Channel] = []
        for _ in 0..<concurrency {
            channels.append(try await bootstrap.connect(host: host, port: port).get())
        }
        return NIOLoadGenerator(channels: channels)
    }

    /// Runs `pairs[i]` pairs on connection `i`, all at once, and returns every request's latency in nanoseconds.
    func run(pairs: [Int]) async throws -> [UInt64] {
        var futures: [EventLoopFuture<[UInt64]>] = []
        for (channel, count) in zip(channels, pairs) {
            let promise = channel.eventLoop.makePromise(of: [UInt64].self)
            channel.pipeline.fireUserInboundEventTriggered(PairDriver.Start(pairs: count, promise: promise))
            futures.append(promise.futureResult)
        }
        var all: [UInt64] = []
        for future in futures { all += try await future.get() }
        return all
    }

    func close() async {
        for channel in channels { try? await channel.close() }
    }
}
