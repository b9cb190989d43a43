import Foundation
import PrefactorWire
import Testing

@testable import PrefactorCore

/// The queue file's log: frames read back whole or not at all, a torn tail skipped and counted, and a file whose log
/// was never applied read and taken over with everything it holds, each step once.
@Suite(.timeLimit(.minutes(1)))
struct QueueLogTests {
    static let create = TelemetryOperation(
        id: 1, instanceID: "inst",
        body: .createSpan(
            spanID: "span-1", parentSpanID: nil, schemaName: "agent:llm", status: .active,
            payload: ["model": "gpt-4", "ünïcode": "✓"], startedAt: Date(timeIntervalSince1970: 1_764_000_000.25)),
        idempotencyKey: "key-1", enqueuedAt: Date(timeIntervalSince1970: 1_764_000_000.5))

    static let steps = [
        StoreChanges(persist: [create, sampleOperation(2), sampleOperation(3)]),
        StoreChanges(forget: [1], resolved: [("span-1", "api-1")]),
        StoreChanges(retrying: [(2, 3, "HTTP 503: unavailable")]),
        StoreChanges(failed: [(3, "HTTP 422: bad payload")]),
    ]

    func describe(_ step: StoreChanges) -> String {
        "persist \(step.persist.map(\.recordText)) forget \(step.forget) resolved \(step.resolved.map { "\($0.0)=\($0.1)" })"
            + " failed \(step.failed.map { "\($0.0):\($0.1)" }) retrying \(step.retrying.map { "\($0.0):\($0.1):\($0.2)" })"
    }

    @Test func aFrameReadsBackAsTheStepsItWasMadeOf() {
        let bytes = QueueLogCodec.frame(sequence: 42, steps: Self.steps) + QueueLogCodec.frame(sequence: 43, steps: [])
        let contents = QueueLogCodec.read(bytes)
        #expect(contents.frames.map(\.sequence) == [42, 43])
        #expect(contents.frames.first?.steps.map(describe) == Self.steps.map(describe))
        #expect(contents.frames.first?.steps.first?.persist.first == Self.create)
        #expect(contents.unreadableBytes == 0)
        #expect(contents.unreadableRecords == 0)
    }

    /// Ways a frame cannot be read.
    enum Damage: String, CaseIterable, Sendable {
        case tornHeader, tornPayload, damagedPayload, wrongMagic

        /// Damages the second frame of `bytes`, which starts at `second`.
        func apply(_ bytes: inout [UInt8], second: Int) {
            switch self {
            case .tornHeader: bytes.removeLast(bytes.count - second - 7)
            case .tornPayload: bytes.removeLast(3)
            case .damagedPayload: bytes[bytes.count - 10] ^= 0x40
            case .wrongMagic: bytes[second] ^= 0x01
            }
        }
    }

    /// What cannot be read stops the reading there: a torn tail, a damaged byte, a wrong magic number.
    @Test(arguments: Damage.allCases)
    func whatCannotBeReadIsSkippedAndCounted(_ damage: Damage) {
        let first = QueueLogCodec.frame(sequence: 1, steps: [Self.steps[0]])
        var bytes = first + QueueLogCodec.frame(sequence: 2, steps: [Self.steps[1]])
        damage.apply(&bytes, second: first.count)
        let contents = QueueLogCodec.read(bytes)
        #expect(contents.frames.map(\.sequence) == [1])
        #expect(contents.unreadableBytes == bytes.count - first.count)
    }

    @Test func aRecordThatCannotBeReadInsideAWholeFrameIsSkippedAndCounted() {
        var bytes = QueueLogCodec.frame(sequence: 1, steps: [StoreChanges(persist: [sampleOperation(1), sampleOperation(2)])])
        // The first record's opening brace becomes something else; the checksum is made to match again.
        let recordStart = QueueLogCodec.headerSize + 4 + 4 + 4
        #expect(bytes[recordStart] == UInt8(ascii: "{"))
        bytes[recordStart] = UInt8(ascii: "x")
        let checksum = CRC32.checksum(bytes[QueueLogCodec.headerSize...])
        withUnsafeBytes(of: checksum.littleEndian) { bytes.replaceSubrange(16..<20, with: $0) }
        let contents = QueueLogCodec.read(bytes)
        #expect(contents.frames.first?.steps.first?.persist.map(\.id) == [2])
        #expect(contents.unreadableRecords == 1)
    }

    /// A record whose id reads but whose rest does not: read back, it is skipped and counted; an apply leaves it
    /// out and writes the rest.
    @Test func aRecordDamagedAfterItsIDIsSkippedAndCounted() throws {
        var bytes = QueueLogCodec.frame(sequence: 1, steps: [StoreChanges(persist: [sampleOperation(1), sampleOperation(2)])])
        let recordStart = QueueLogCodec.headerSize + 4 + 4 + 4
        let damageAt = try #require(bytes[recordStart...].firstIndex(of: UInt8(ascii: "[")))  // the dependencies
        bytes[damageAt] = UInt8(ascii: "?")
        let checksum = CRC32.checksum(bytes[QueueLogCodec.headerSize...])
        withUnsafeBytes(of: checksum.littleEndian) { bytes.replaceSubrange(16..<20, with: $0) }
        #expect(bytes.withUnsafeBytes { QueueLogCodec.readRaw($0).frames.first?.steps.first?.persist.map(\.id) } == [1, 2])
        let contents = QueueLogCodec.read(bytes)
        #expect(contents.frames.first?.steps.first?.persist.map(\.id) == [2])
        #expect(contents.unreadableRecords == 1)
    }

    /// The id is read from the front of a record without decoding the rest, every value an id can have included.
    @Test(
        arguments: [
            (#"{"id":7,"x":1}"#, UInt64?.some(7)), (#"{"id":-1,"x":1}"#, UInt64.max),
            (#"{"id":-9223372036854775808,"x":1}"#, UInt64(1) << 63), (#"{"id":9223372036854775807,"x":1}"#, UInt64(Int64.max)),
            (#"{"id":9223372036854775808,"x":1}"#, nil), (#"{"id":99999999999999999999,"x":1}"#, nil),
            (#"{"id":7}"#, nil), (#"{"id":,"x":1}"#, nil), (#"{"id":-,"x":1}"#, nil), (#"{"key":7,"x":1}"#, nil),
            (#"{"id":7"#, nil), ("", nil),
        ])
    func recordIDs(record: String, expected: UInt64?) {
        #expect(Array(record.utf8).withUnsafeBytes(QueueLogCodec.recordID) == expected)
        if let expected {
            // As the record writer writes it.
            let operation = TelemetryOperation(
                id: expected, instanceID: "inst", body: .startInstance(timestamp: Date(timeIntervalSince1970: 1)),
                idempotencyKey: "key", enqueuedAt: Date(timeIntervalSince1970: 1))
            let written = operation.recordText
            #expect(Array(written.utf8).withUnsafeBytes(QueueLogCodec.recordID) == expected)
        }
    }

    /// What an apply writes: an operation queued and delivered in the same batch is left out (with its attempts);
    /// one queued in an earlier batch is still forgotten; API ids and failures are always written.
    @Test func whatCancelsOutInABatchIsNotWritten() {
        let bytes =
            QueueLogCodec.frame(sequence: 1, steps: [Self.steps[0]])
            + QueueLogCodec.frame(sequence: 2, steps: [StoreChanges(retrying: [(2, 1, "503")]), Self.steps[3]])
            + QueueLogCodec.frame(sequence: 3, steps: [StoreChanges(forget: [1, 2, 9], resolved: [("span-1", "api-1")])])
        bytes.withUnsafeBytes { checkNet(QueueLogCodec.readRaw($0).frames) }
    }

    /// The frames' steps without what cancels out within them.
    func netted(_ frames: [QueueLogCodec.RawFrame]) -> [QueueLogCodec.RawStep] {
        var net = QueueLogCodec.Net()
        for frame in frames { net.note(frame) }
        return frames.flatMap(\.steps).map(net.filter)
    }

    func checkNet(_ frames: [QueueLogCodec.RawFrame]) {
        #expect(frames.count == 3)
        #expect(frames.map(\.sequence) == [1, 2, 3])
        let steps = netted(frames)
        #expect(steps.flatMap(\.persist).map(\.id) == [3])
        #expect(steps.flatMap(\.forget) == [9])
        #expect(steps.flatMap(\.retrying).isEmpty)
        #expect(steps.flatMap(\.failed).map(\.0) == [3])
        #expect(steps.flatMap(\.resolved).map(\.1) == ["api-1"])
        // Nothing cancels out: the frames are written as they are.
        #expect(netted([frames[2]]).flatMap(\.forget) == [1, 2, 9])
    }

    /// The apply reads the log a frame at a time: both files in sequence order, each up to the size it had when
    /// the apply began, a frame larger than any before it included, and nothing after a torn frame.
    @Test func theLogIsReadAFrameAtATimeInSequenceOrder() throws {
        let path = temporaryQueuePath()
        let big = StoreChanges(
            persist: [
                TelemetryOperation(
                    id: 9, instanceID: "inst",
                    body: .recordQuality(name: "q", payload: ["text": .string(String(repeating: "x", count: 100_000))]),
                    idempotencyKey: "key-9", enqueuedAt: Date(timeIntervalSince1970: 1))
            ])
        let older = QueueLogCodec.frame(sequence: 1, steps: [Self.steps[0]]) + QueueLogCodec.frame(sequence: 2, steps: [big])
        let newer =
            QueueLogCodec.frame(sequence: 3, steps: [Self.steps[1]]) + QueueLogCodec.frame(sequence: 4, steps: [Self.steps[2]])
        let torn = Array(QueueLogCodec.frame(sequence: 5, steps: [Self.steps[3]]).dropLast(3))
        try Data(newer + torn).write(to: URL(fileURLWithPath: path + "-log0"))
        try Data(older).write(to: URL(fileURLWithPath: path + "-log1"))
        func read(_ limits: [Int], chunk: Int = QueueLogFiles.readChunk) throws -> [UInt64] {
            var sequences: [UInt64] = []
            var ids: [UInt64] = []
            try QueueLogFiles.forEachRawFrame(path: path, limits: limits, chunk: chunk) { frame in
                sequences.append(frame.sequence)
                ids += frame.steps.flatMap { $0.persist.map(\.id) }
            }
            #expect(ids == [1, 2, 3, 9], "the older file's records, the large one whole")
            return sequences
        }
        #expect(try read([newer.count + torn.count, older.count]) == [1, 2, 3, 4])
        #expect(try read([newer.count - 1, older.count]) == [1, 2, 3], "the limit cuts the last frame off")
        #expect(try read([0, older.count]) == [1, 2])
        // Read in chunks smaller than a header, than most frames, and than the large one: the same frames.
        for chunk in [7, 64, 1_000, 150_000] {
            #expect(try read([newer.count + torn.count, older.count], chunk: chunk) == [1, 2, 3, 4], "chunk \(chunk)")
            #expect(try read([newer.count - 1, older.count], chunk: chunk) == [1, 2, 3], "chunk \(chunk)")
        }
    }

    @Test func theChecksumIsCRC32() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
        // Eight bytes a step gives what one bit a step gives, at every length and offset.
        func bitwise(_ bytes: ArraySlice<UInt8>) -> UInt32 {
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in bytes {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            }
            return ~crc
        }
        let bytes = (0..<100).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        for start in 0..<9 {
            for end in start...bytes.count {
                #expect(CRC32.checksum(bytes[start..<end]) == bitwise(bytes[start..<end]), "\(start)..<\(end)")
            }
        }
    }

    /// Copies a queue file as a crash would leave it: the SQLite file, its write-ahead log, and the log if asked.
    func copy(_ file: String, log: Bool = true) throws -> String {
        let copy = temporaryQueuePath()
        for suffix in ["", "-wal"] + (log ? QueueLogFiles.suffixes : [])
        where FileManager.default.fileExists(atPath: file + suffix) {
            try FileManager.default.copyItem(atPath: file + suffix, toPath: copy + suffix)
        }
        return copy
    }

    @Test func whatIsOnlyInTheLogIsReadByAnInspectorAndTakenOverByTheNextOwner() throws {
        let file = temporaryQueuePath()
        let store = try SQLiteTelemetryQueueStore(path: file, midTransaction: nil, applyDelay: nil)
        for step in Self.steps { #expect(store.apply(step) == nil) }
        #expect(store.count == 2)
        #expect(store.failedCount == 1)

        // The SQLite file has none of it yet.
        #expect(try SQLiteTelemetryQueueStore.inspect(path: try copy(file, log: false)).entries().isEmpty)

        // A reader sees the log applied over the file, while the owner lives and after a crash alike.
        for path in [file, try copy(file)] {
            let reader = try SQLiteTelemetryQueueStore.inspect(path: path)
            let entries = try reader.entries()
            #expect(entries.map(\.id) == [2, 3])
            #expect(entries.first?.attempts == 3)
            #expect(entries.first?.lastError == "HTTP 503: unavailable")
            #expect(entries.last?.failedReason == "HTTP 422: bad payload")
            #expect(reader.resolvedSpans() == ["span-1": "api-1"])
        }

        // The next owner takes it over, and the log is applied to its SQLite file and emptied.
        let crashed = try copy(file)
        let next = try SQLiteTelemetryQueueStore(path: crashed)
        let recovered = next.recover()
        #expect(recovered.operations.map(\.id) == [2])
        #expect(recovered.resolved == ["span-1": "api-1"])
        #expect(recovered.skipped == 0)
        #expect(next.count == 2)
        #expect(next.openingNotices.isEmpty)
        for suffix in QueueLogFiles.suffixes {
            #expect((try FileManager.default.attributesOfItem(atPath: crashed + suffix)[.size] as? Int) == 0)
        }
        #expect(try SQLiteTelemetryQueueStore.inspect(path: try copy(crashed, log: false)).entries().map(\.id) == [2, 3])
        _ = store
    }

    /// A crash after the log was applied and before it was emptied: the next owner skips what was applied, so an
    /// operation forgotten in the log is not brought back by its earlier record.
    @Test func aLogAppliedTwiceChangesNothing() throws {
        let file = temporaryQueuePath()
        let store = try SQLiteTelemetryQueueStore(path: file, midTransaction: nil, applyDelay: nil)
        for step in Self.steps { store.apply(step) }
        let logOnly = try copy(file)
        store.checkpoint()
        let applied = try copy(file, log: false)
        for suffix in QueueLogFiles.suffixes {
            try FileManager.default.copyItem(atPath: logOnly + suffix, toPath: applied + suffix)
        }
        let next = try SQLiteTelemetryQueueStore(path: applied)
        #expect(next.recover().operations.map(\.id) == [2])
        #expect(try next.entries().map(\.id) == [2, 3])
        #expect(next.count == 2)
        _ = store
    }

    @Test func aTornLastWriteIsSkippedAndCountedAndWhatCameBeforeIsKept() throws {
        let file = temporaryQueuePath()
        let store = try SQLiteTelemetryQueueStore(path: file, midTransaction: nil, applyDelay: nil)
        store.apply(Self.steps[0])
        let crashed = try copy(file)
        // Half of the settlement's frame, as a process killed inside its write would leave it.
        let torn = QueueLogCodec.frame(sequence: 2, steps: [Self.steps[1]])
        let handle = try #require(FileHandle(forWritingAtPath: crashed + QueueLogFiles.suffixes[0]))
        handle.seekToEndOfFile()
        handle.write(Data(torn.prefix(torn.count / 2)))
        try handle.close()

        let next = try SQLiteTelemetryQueueStore(path: crashed)
        #expect(next.openingNotices == [.recordsSkipped(path: crashed + "-log", count: 1)])
        // Neither half of the settlement: the create is still queued and no API id is recorded.
        #expect(next.recover().operations.map(\.id) == [1, 2, 3])
        #expect(next.resolvedSpans().isEmpty)
        // New writes go after it and are read back.
        next.apply(StoreChanges(forget: [2]))
        #expect(try SQLiteTelemetryQueueStore.inspect(path: try copy(crashed)).entries().map(\.id) == [1, 3])
        _ = store
    }

    /// A store let go of while its log is being applied waits for the apply and releases the file's lock before it is
    /// gone: the next owner in the same process opens the file at once (it was refused while the apply ran on).
    @Test func aStoreLetGoOfDuringAnApplyReleasesTheFileForTheNextOwner() throws {
        let file = temporaryQueuePath()
        let entered = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        do {
            let store = try SQLiteTelemetryQueueStore(
                path: file,
                midTransaction: { _ in
                    entered.signal()
                    release.wait()
                }, applyDelay: .milliseconds(1))
            store.apply(StoreChanges(persist: [sampleOperation(1)]))
            #expect(entered.wait(timeout: .now() + 10) == .success, "the apply began")
            // Let the apply finish a little after the store is let go of.
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(300)) { release.signal() }
        }
        let next = try SQLiteTelemetryQueueStore(path: file)
        #expect(next.recover().operations.map(\.id) == [1])
    }

    /// Past its bytes limit the log is applied at once, not after the delay.
    @Test func aLargeLogIsAppliedWithoutWaitingOutTheDelay() async throws {
        let file = temporaryQueuePath()
        let store = try SQLiteTelemetryQueueStore(
            path: file, midTransaction: nil, applyDelay: .seconds(3_600), applyBacklog: 600)
        store.apply(StoreChanges(persist: [sampleOperation(1)]))
        #expect(try SQLiteTelemetryQueueStore.inspect(path: try copy(file, log: false)).entries().isEmpty)
        store.apply(StoreChanges(persist: [sampleOperation(2), sampleOperation(3), sampleOperation(4)]))
        try await eventually("the SQLite file holds the operations") {
            (try? SQLiteTelemetryQueueStore.inspect(path: try copy(file, log: false)).entries().count) == 4
        }
    }

    @Test func theLogIsAppliedInTheBackgroundAndEmptied() async throws {
        let file = temporaryQueuePath()
        let store = try SQLiteTelemetryQueueStore(path: file, midTransaction: nil, applyDelay: .milliseconds(1))
        store.apply(Self.steps[0])
        try await eventually("the SQLite file holds the operations") {
            (try? SQLiteTelemetryQueueStore.inspect(path: try copy(file, log: false)).entries().count) == 3
        }
        store.apply(Self.steps[1])
        try await eventually("both log files are emptied") {
            QueueLogFiles.suffixes.allSatisfy {
                (try? FileManager.default.attributesOfItem(atPath: file + $0)[.size] as? Int) == 0
            }
        }
        #expect(try SQLiteTelemetryQueueStore.inspect(path: try copy(file, log: false)).entries().map(\.id) == [2, 3])
    }
}
