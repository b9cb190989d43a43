import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// One TCP connection to `127.0.0.1` driven step by step, for clients that misbehave over time: a head sent in
/// pieces, a body that stops halfway, a socket left open. Blocking calls run on their own thread.
final class RawConnection: @unchecked Sendable {
    /// How a read ended.
    enum Ending: Equatable, Sendable {
        /// The server closed the connection (end of stream or reset).
        case closed
        /// Nothing arrived within the receive timeout.
        case timedOut
    }

    private let fd: Int32

    /// Connects; reads and writes give up after `timeout` seconds.
    init(port: Int, timeout: Int = 20) throws {
        #if canImport(Darwin)
            fd = socket(AF_INET, SOCK_STREAM, 0)
        #else
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #endif
        guard fd >= 0 else { throw RawHTTP.Failure(description: "socket() failed: \(errno)") }
        var time = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            throw RawHTTP.Failure(description: "connect() failed: \(errno)")
        }
    }

    deinit { close(fd) }

    /// Runs a blocking call on its own thread.
    private func blocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: body()) }.start()
        }
    }

    /// Sends bytes; returns how many went out before the server stopped taking them (or the send timeout).
    @discardableResult
    func send(_ bytes: [UInt8]) async -> Int {
        await blocking { [fd] in
            var sent = 0
            while sent < bytes.count {
                let count = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if count <= 0 { break }
                sent += count
            }
            return sent
        }
    }

    @discardableResult
    func send(_ text: String) async -> Int {
        await send(Array(text.utf8))
    }

    /// Reads until the server closes the connection or nothing arrives for the receive timeout.
    ///
    /// - Returns: What arrived, and how the read ended.
    func readToEnd() async -> (bytes: [UInt8], ending: Ending) {
        await blocking { [fd] in
            var received: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count > 0 {
                    received.append(contentsOf: chunk[0..<count])
                    continue
                }
                if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return (received, .timedOut) }
                return (received, .closed)
            }
        }
    }

    /// Reads one response with a `Content-Length` body, leaving the connection open.
    func readResponse() async throws -> RawHTTP.Response {
        let result = await blocking { [fd] () -> RawHTTP.Response? in
            var received: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                if let response = RawHTTP.parse(received) { return response }
                let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count <= 0 { return RawHTTP.parse(received, atEnd: true) }
                received.append(contentsOf: chunk[0..<count])
            }
        }
        guard let result else { throw RawHTTP.Failure(description: "no complete response") }
        return result
    }
}
