import Foundation
import PrefactorWire

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The queue file's log: every step's changes are appended to it with one `write` before the call that queued them
/// returns, and applied to the SQLite file later, in batches (see ``SQLiteTelemetryQueueStore``). A frame holds one
/// or more steps, in order, under a sequence number and a checksum; the SQLite file records the last sequence number
/// it applied, so a frame applied twice (a crash between the apply and the truncation of the log) is skipped.
///
/// The layout of a frame (little-endian): magic `PFQL` (4 bytes), payload length (4), sequence number (8), CRC-32 of
/// the payload (4), then the payload: the number of steps (4) and each step (``StoreChanges``) as counted lists of
/// new operations (their records), forgotten ids, resolved span ids, failed operations and retried ones.
enum QueueLogCodec {
    static let magic: UInt32 = 0x4C51_4650
    static let headerSize = 20

    /// One frame read back.
    struct Frame {
        /// Its sequence number.
        var sequence: UInt64
        /// The steps, in order.
        var steps: [StoreChanges]
    }

    /// One step as the log holds it: new operations as their records' bytes (with the id read from the front of
    /// each), the rest as ``StoreChanges`` has it. What an apply writes to the SQLite file without decoding a record
    /// it leaves out (``net(_:)``), nor encoding one again.
    /// The records point into the bytes read (valid while those are).
    struct RawStep {
        var persist: [(id: UInt64, record: UnsafeRawBufferPointer)] = []
        var forget: [UInt64] = []
        var resolved: [(String, String)] = []
        var failed: [(UInt64, String)] = []
        var retrying: [(UInt64, Int, String)] = []
    }

    /// One frame read back with its records as bytes.
    struct RawFrame {
        var sequence: UInt64
        var steps: [RawStep]
    }

    /// What a log holds: the frames that could be read, in order, and what could not.
    struct Contents {
        /// The frames up to the first that cannot be read.
        var frames: [Frame] = []
        /// Bytes after the last whole frame (a torn last write, or damage): skipped.
        var unreadableBytes = 0
        /// Operation records inside whole frames that could not be read: skipped.
        var unreadableRecords = 0
    }

    /// The bytes of one frame.
    static func frame(sequence: UInt64, steps: [StoreChanges]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(headerSize + 64 + steps.count * 320)
        // The header's length and checksum are filled in once the payload is written after it.
        put(magic, &bytes)
        put(UInt32(0), &bytes)
        put(sequence, &bytes)
        put(UInt32(0), &bytes)
        put(UInt32(steps.count), &bytes)
        for step in steps { encode(step, &bytes) }
        let length = UInt32(bytes.count - headerSize)
        let checksum = CRC32.checksum(bytes[headerSize...])
        bytes.withUnsafeMutableBytes { buffer in
            buffer.storeBytes(of: length.littleEndian, toByteOffset: 4, as: UInt32.self)
            buffer.storeBytes(of: checksum.littleEndian, toByteOffset: 16, as: UInt32.self)
        }
        return bytes
    }

    /// Reads the frames of a log, stopping at the first that is incomplete or damaged; records that cannot be read
    /// are skipped and counted.
    static func read(_ bytes: [UInt8]) -> Contents {
        bytes.withUnsafeBytes(read)
    }

    private static func read(_ bytes: UnsafeRawBufferPointer) -> Contents {
        let raw = readRaw(bytes)
        var contents = Contents(unreadableBytes: raw.unreadableBytes, unreadableRecords: raw.unreadableRecords)
        for frame in raw.frames {
            let steps = frame.steps.map { step in
                var changes = StoreChanges(
                    forget: step.forget, resolved: step.resolved, failed: step.failed, retrying: step.retrying)
                for (_, record) in step.persist {
                    if let operation = try? TelemetryOperation(recordText: record) {
                        changes.persist.append(operation)
                    } else {
                        contents.unreadableRecords += 1
                    }
                }
                return changes
            }
            contents.frames.append(Frame(sequence: frame.sequence, steps: steps))
        }
        return contents
    }

    /// Reads the frames of a log with their records as bytes, stopping at the first frame that is incomplete or
    /// damaged. A record whose id cannot be read is skipped and counted.
    static func readRaw(
        _ bytes: UnsafeRawBufferPointer
    ) -> (frames: [RawFrame], unreadableBytes: Int, unreadableRecords: Int) {
        var frames: [RawFrame] = []
        var unreadableRecords = 0
        var offset = 0
        while offset < bytes.count, let (frame, end) = readFrame(bytes, at: offset, unreadable: &unreadableRecords) {
            frames.append(frame)
            offset = end
        }
        return (frames, bytes.count - offset, unreadableRecords)
    }

    /// Reads one frame at `offset` of `bytes`: its sequence number, steps and length, or `nil` when it is incomplete or
    /// damaged.
    static func readFrame(
        _ bytes: UnsafeRawBufferPointer, at offset: Int, unreadable: inout Int
    ) -> (frame: RawFrame, end: Int)? {
        var header = Reader(bytes: bytes, offset: offset)
        guard let magic = header.u32(), magic == Self.magic, let length = header.u32(), let sequence = header.u64(),
            let checksum = header.u32(), bytes.count - header.offset >= Int(length)
        else { return nil }
        let start = header.offset
        let end = start + Int(length)
        guard CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[start..<end])) == checksum else { return nil }
        var reader = Reader(bytes: bytes, offset: start, end: end)
        guard let steps = decodeSteps(&reader, unreadable: &unreadable) else { return nil }
        return (RawFrame(sequence: sequence, steps: steps), end)
    }

    /// The id at the front of a record (`{"id":N,` as ``TelemetryOperation/writeRecord(to:)`` writes it), without
    /// decoding the rest.
    static func recordID(_ record: UnsafeRawBufferPointer) -> UInt64? {
        let prefix = #"{"id":"#.utf8
        guard record.count > prefix.count, record.starts(with: prefix) else { return nil }
        var index = record.startIndex + prefix.count
        let negative = record[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        var magnitude: UInt64 = 0
        var digits = 0
        while index < record.endIndex, record[index] >= UInt8(ascii: "0"), record[index] <= UInt8(ascii: "9") {
            let (times, overflow) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, carry) = times.addingReportingOverflow(UInt64(record[index] - UInt8(ascii: "0")))
            guard !overflow, !carry else { return nil }
            magnitude = sum
            digits += 1
            index += 1
        }
        guard digits > 0, index < record.endIndex, record[index] == UInt8(ascii: ",") else { return nil }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return UInt64(bitPattern: magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude))
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return magnitude
    }

    /// What cancels out within a batch of frames, learnt frame by frame (a batch is read twice, a frame at a time,
    /// instead of held whole): an operation both queued and delivered within it is never written to the SQLite file
    /// (nor its attempts), since the file would end as it began. What a batch applies is then only what outlives it:
    /// with a backlog delivered as fast as it is queued, most of it.
    struct Net {
        private var queued = Set<UInt64>()
        private var cancelled = Set<UInt64>()

        /// Learns what a frame queues and settles.
        mutating func note(_ frame: RawFrame) {
            for step in frame.steps {
                for (id, _) in step.persist { queued.insert(id) }
                for id in step.forget where queued.contains(id) { cancelled.insert(id) }
            }
        }

        /// A step without what cancels out.
        func filter(_ step: RawStep) -> RawStep {
            guard !cancelled.isEmpty else { return step }
            var step = step
            step.persist.removeAll { cancelled.contains($0.id) }
            step.forget.removeAll { cancelled.contains($0) }
            step.retrying.removeAll { cancelled.contains($0.0) }
            return step
        }
    }

    private static func encode(_ step: StoreChanges, _ out: inout [UInt8]) {
        put(UInt32(step.persist.count), &out)
        for operation in step.persist {
            // The record straight into the frame, its length filled in after it.
            let lengthAt = out.count
            put(UInt32(0), &out)
            var record = JSONBytes(appendingTo: out)
            out = []
            operation.writeRecord(to: &record)
            out = record.bytes
            let length = UInt32(out.count - lengthAt - 4).littleEndian
            withUnsafeBytes(of: length) { out.replaceSubrange(lengthAt..<(lengthAt + 4), with: $0) }
        }
        put(UInt32(step.forget.count), &out)
        for id in step.forget { put(id, &out) }
        put(UInt32(step.resolved.count), &out)
        for (local, api) in step.resolved {
            put(local, &out)
            put(api, &out)
        }
        put(UInt32(step.failed.count), &out)
        for (id, reason) in step.failed {
            put(id, &out)
            put(reason, &out)
        }
        put(UInt32(step.retrying.count), &out)
        for (id, attempts, error) in step.retrying {
            put(id, &out)
            put(UInt32(clamping: attempts), &out)
            put(error, &out)
        }
    }

    private static func decodeSteps(_ reader: inout Reader, unreadable: inout Int) -> [RawStep]? {
        guard let count = reader.u32() else { return nil }
        var steps: [RawStep] = []
        for _ in 0..<count {
            var step = RawStep()
            guard let persisted = reader.u32() else { return nil }
            for _ in 0..<persisted {
                guard let record = reader.slice() else { return nil }
                if let id = recordID(record) {
                    step.persist.append((id, record))
                } else {
                    unreadable += 1
                }
            }
            guard let forgotten = reader.u32() else { return nil }
            for _ in 0..<forgotten {
                guard let id = reader.u64() else { return nil }
                step.forget.append(id)
            }
            guard let resolved = reader.u32() else { return nil }
            for _ in 0..<resolved {
                guard let local = reader.string(), let api = reader.string() else { return nil }
                step.resolved.append((local, api))
            }
            guard let failed = reader.u32() else { return nil }
            for _ in 0..<failed {
                guard let id = reader.u64(), let reason = reader.string() else { return nil }
                step.failed.append((id, reason))
            }
            guard let retrying = reader.u32() else { return nil }
            for _ in 0..<retrying {
                guard let id = reader.u64(), let attempts = reader.u32(), let error = reader.string() else { return nil }
                step.retrying.append((id, Int(attempts), error))
            }
            steps.append(step)
        }
        return reader.offset == reader.end ? steps : nil
    }

    private static func put(_ value: UInt32, _ out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    private static func put(_ value: UInt64, _ out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    private static func put(_ text: String, _ out: inout [UInt8]) {
        var text = text
        text.withUTF8 { utf8 in
            put(UInt32(utf8.count), &out)
            out.append(contentsOf: utf8)
        }
    }

    /// Reads little-endian values from a byte range; `nil` past its end.
    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset: Int
        let end: Int

        init(bytes: UnsafeRawBufferPointer, offset: Int, end: Int? = nil) {
            self.bytes = bytes
            self.offset = offset
            self.end = end ?? bytes.count
        }

        mutating func u32() -> UInt32? {
            guard end - offset >= 4 else { return nil }
            defer { offset += 4 }
            return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        }

        mutating func u64() -> UInt64? {
            guard end - offset >= 8 else { return nil }
            defer { offset += 8 }
            return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }

        mutating func slice() -> UnsafeRawBufferPointer? {
            guard let length = u32(), end - offset >= Int(length) else { return nil }
            defer { offset += Int(length) }
            return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + Int(length))])
        }

        mutating func string() -> String? {
            slice().map { String(decoding: $0, as: UTF8.self) }
        }
    }
}

/// CRC-32 (the polynomial of zlib and PNG), to tell a whole frame from a torn or damaged one; eight bytes a step
/// ("slicing by 8"), since every frame the agent writes is checksummed on its path.
enum CRC32 {
    /// `tables[k][b]`: the CRC of byte `b` followed by `k` zero bytes.
    private static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for index in 0..<256 {
            var value = UInt32(index)
            for _ in 0..<8 { value = value & 1 == 1 ? (value >> 1) ^ 0xEDB8_8320 : value >> 1 }
            tables[index] = value
        }
        for index in 0..<256 {
            for slice in 1..<8 {
                let previous = tables[(slice - 1) * 256 + index]
                tables[slice * 256 + index] = tables[Int(previous & 0xFF)] ^ (previous >> 8)
            }
        }
        return tables
    }()

    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.withUnsafeBufferPointer { checksum(UnsafeRawBufferPointer($0)) }
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { checksum(UnsafeRawBufferPointer($0)) }
    }

    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        tables.withUnsafeBufferPointer { t in
            var index = 0
            let count = bytes.count
            while count - index >= 8 {
                let low = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt32.self)) ^ crc
                let high = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: index + 4, as: UInt32.self))
                crc =
                    t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
                    ^ t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ t[256 + Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
                index += 8
            }
            while index < count {
                crc = t[Int((crc ^ UInt32(bytes[index])) & 0xFF)] ^ (crc >> 8)
                index += 1
            }
        }
        return crc ^ 0xFFFF_FFFF
    }
}

/// The two files of a queue file's log (`FILE-log0`, `FILE-log1`): appends go to one while the other's frames are
/// applied to the SQLite file; once applied, that one is emptied and becomes the next to take appends.
struct QueueLogFiles {
    /// The suffixes of the two files.
    static let suffixes = ["-log0", "-log1"]

    /// Reads both files of a log (missing ones read as empty), merged in sequence order.
    static func read(path: String) -> (frames: [QueueLogCodec.Frame], unreadableBytes: Int, unreadableRecords: Int) {
        var frames: [QueueLogCodec.Frame] = []
        var bytes = 0
        var records = 0
        for suffix in suffixes {
            guard let data = FileManager.default.contents(atPath: path + suffix) else { continue }
            let contents = QueueLogCodec.read([UInt8](data))
            frames += contents.frames
            bytes += contents.unreadableBytes
            records += contents.unreadableRecords
        }
        frames.sort { $0.sequence < $1.sequence }
        return (frames, bytes, records)
    }

    /// Calls `body` with each whole frame of both files, each read up to `limits` bytes when given (what was
    /// appended before a moment: appends may go on meanwhile), in sequence order, stopping in a file at its first
    /// frame that is incomplete or damaged. The files are read in chunks and parsed from one buffer, so reading a log
    /// costs a few reads and the size of its largest frame. The frame's records point into that buffer, valid during
    /// `body`.
    ///
    /// - Returns: The bytes after the last whole frame of each file (a torn or damaged tail), and the records inside
    ///   whole frames that could not be read.
    @discardableResult
    static func forEachRawFrame(
        path: String, limits: [Int]? = nil, chunk: Int = readChunk, _ body: (QueueLogCodec.RawFrame) throws -> Void
    ) throws -> (bytes: Int, records: Int) {
        var files: [(descriptor: Int32, limit: Int, first: UInt64)] = []
        defer { for file in files { close(file.descriptor) } }
        var header = [UInt8](repeating: 0, count: QueueLogCodec.headerSize)
        for (index, suffix) in suffixes.enumerated() {
            let descriptor = open(path + suffix, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { continue }
            var info = stat()
            let size = fstat(descriptor, &info) == 0 ? Int(info.st_size) : 0
            files.append((descriptor, min(size, limits?[index] ?? .max), 0))
            if readFully(descriptor, into: &header, count: header.count, at: 0) {
                files[files.count - 1].first = UInt64(
                    littleEndian: header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self) })
            }
        }
        var unreadable = (bytes: 0, records: 0)
        var buffer = [UInt8](repeating: 0, count: max(chunk, QueueLogCodec.headerSize))
        for file in files.sorted(by: { $0.first < $1.first }) {
            var start = 0  // the file offset of the buffer's first byte
            var filled = 0  // the bytes of the buffer read from the file
            var position = 0  // where the next frame starts in the buffer
            reading: while true {
                while filled - position >= QueueLogCodec.headerSize {
                    let length = buffer.withUnsafeBytes {
                        Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: position + 4, as: UInt32.self)))
                    }
                    let size = QueueLogCodec.headerSize + length
                    guard file.limit - (start + position) >= size else { break reading }
                    guard filled - position >= size else { break }
                    let read = try buffer.withUnsafeBytes { bytes -> Bool in
                        let frameBytes = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + size)])
                        guard let (frame, _) = QueueLogCodec.readFrame(frameBytes, at: 0, unreadable: &unreadable.records)
                        else { return false }
                        try body(frame)
                        return true
                    }
                    guard read else { break reading }
                    position += size
                }
                // Keep what is left of a frame, make room for it when it is larger than the buffer, and read on.
                let rest = filled - position
                if rest > 0, position > 0 {
                    buffer.withUnsafeMutableBytes { bytes in
                        bytes.baseAddress!.copyMemory(from: bytes.baseAddress! + position, byteCount: rest)
                    }
                }
                start += position
                position = 0
                filled = rest
                let left = file.limit - (start + filled)
                guard left > 0 else { break }
                if filled == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }
                let count = min(buffer.count - filled, left)
                guard readFully(file.descriptor, into: &buffer, count: count, at: start + filled, bufferOffset: filled)
                else { break }
                filled += count
            }
            unreadable.bytes += file.limit - (start + position)
        }
        return unreadable
    }

    /// How many bytes of the log one read takes.
    static let readChunk = 1 << 20

    /// Reads `count` bytes at `offset` into `buffer` from `bufferOffset` on; `false` when the file has fewer.
    private static func readFully(
        _ descriptor: Int32, into buffer: inout [UInt8], count: Int, at offset: Int, bufferOffset: Int = 0
    ) -> Bool {
        var done = 0
        while done < count {
            let result = buffer.withUnsafeMutableBytes {
                pread(descriptor, $0.baseAddress! + bufferOffset + done, count - done, off_t(offset + done))
            }
            if result < 0, errno == EINTR { continue }
            guard result > 0 else { return false }
            done += result
        }
        return true
    }

    /// Appends bytes with `write`, all or nothing: a partial write is cut off again, so a later frame never follows
    /// a torn one. With `sync`, the data is on the disk before it returns.
    ///
    /// - Returns: Why it failed, or `nil`.
    static func append(_ bytes: [UInt8], to descriptor: Int32, size: inout Int, sync: Bool) -> String? {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { buffer in
                write(descriptor, buffer.baseAddress! + written, buffer.count - written)
            }
            if result < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                _ = ftruncate(descriptor, off_t(size))
                return reason
            }
            written += result
        }
        if sync, fdatasync(descriptor) != 0 {
            let reason = String(cString: strerror(errno))
            _ = ftruncate(descriptor, off_t(size))
            return reason
        }
        size += bytes.count
        return nil
    }
}
