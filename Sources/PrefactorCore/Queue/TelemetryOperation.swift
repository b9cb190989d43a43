import Foundation
import Logging
import PrefactorHTTP
import PrefactorWire
import Synchronization

/// One queued call to the API. Operations are plain values and `Codable`, so a queue can keep them on disk.
public struct TelemetryOperation: Sendable, Codable, Hashable, Identifiable {
    /// What the operation does.
    public enum Kind: String, Sendable, Codable, Hashable, CaseIterable {
        /// `POST /agent_instance/{id}/start`.
        case startInstance = "start_instance"
        /// `POST /agent_instance/{id}/finish`.
        case finishInstance = "finish_instance"
        /// `POST /agent_instance/{id}/record_quality`.
        case recordQuality = "record_quality"
        /// `POST /agent_spans`.
        case createSpan = "create_span"
        /// `POST /agent_spans/{id}/finish`.
        case finishSpan = "finish_span"
    }

    /// The call and its arguments.
    public enum Body: Sendable, Codable, Hashable {
        /// Start an instance.
        case startInstance(timestamp: Date)
        /// Finish an instance.
        case finishInstance(status: FinishStatus, timestamp: Date)
        /// Record (or, with `nil`, clear) a quality payload.
        case recordQuality(name: String, payload: [String: JSONValue]?)
        /// Create a span; `spanID` is the client's local id, `parentSpanID` a local or API id.
        case createSpan(
            spanID: String, parentSpanID: String?, schemaName: String, status: AgentStatus, payload: [String: JSONValue],
            startedAt: Date)
        /// Finish a span known by its local id.
        case finishSpan(spanID: String, status: FinishStatus, resultPayload: [String: JSONValue]?, timestamp: Date)
    }

    /// How an operation waits for another.
    public enum DependencyKind: String, Sendable, Codable, Hashable {
        /// Needs the other's result (an API id): fails when the other fails.
        case requires
        /// Only ordered after the other, whatever its outcome.
        case after
    }

    /// A dependency on an earlier operation.
    public struct Dependency: Sendable, Codable, Hashable {
        /// The earlier operation.
        public var operationID: UInt64
        /// How this one depends on it.
        public var kind: DependencyKind

        /// Creates a dependency.
        public init(operationID: UInt64, kind: DependencyKind) {
            self.operationID = operationID
            self.kind = kind
        }
    }

    /// A number unique within the client, increasing in enqueue order.
    public var id: UInt64
    /// The instance the operation belongs to.
    public var instanceID: String
    /// The call.
    public var body: Body
    /// The key sent on every attempt.
    public var idempotencyKey: String {
        get { storedKey.text }
        set { storedKey = StoredKey(newValue) }
    }
    /// Whether the caller chose ``idempotencyKey`` (rather than the client generating it). Such an operation is always
    /// sent as its own request, so the key the caller gave is the one the API sees.
    public var idempotencyKeyGiven: Bool
    /// When the agent asked for it.
    public var enqueuedAt: Date
    /// Operations that must be settled first.
    public var dependencies: [Dependency] {
        get {
            switch storedDependencies {
            case .none: return []
            case .one(let dependency): return [dependency]
            case .many(let dependencies): return dependencies
            }
        }
        set { storedDependencies = StoredDependencies(newValue) }
    }

    // A backlog holds one operation per queued call, so the key and the dependencies are kept without an allocation
    // of their own in the common case: a generated key as its 128 bits, and a single dependency inline.
    private(set) var storedKey: StoredKey
    private(set) var storedDependencies: StoredDependencies

    /// The dependencies as an operation keeps them.
    enum StoredDependencies: Hashable, Sendable {
        case none
        case one(Dependency)
        case many([Dependency])

        init(_ dependencies: [Dependency]) {
            switch dependencies.count {
            case 0: self = .none
            case 1: self = .one(dependencies[0])
            default: self = .many(dependencies)
            }
        }

        /// Calls `body` with each, in order, without building an array.
        func forEach(_ body: (Dependency) -> Void) {
            switch self {
            case .none: break
            case .one(let dependency): body(dependency)
            case .many(let dependencies): dependencies.forEach(body)
            }
        }

        /// Whether one of them is `operationID`.
        func contains(_ operationID: UInt64) -> Bool {
            switch self {
            case .none: return false
            case .one(let dependency): return dependency.operationID == operationID
            case .many(let dependencies): return dependencies.contains { $0.operationID == operationID }
            }
        }
    }

    /// Creates an operation.
    public init(
        id: UInt64, instanceID: String, body: Body, idempotencyKey: String, idempotencyKeyGiven: Bool = false,
        enqueuedAt: Date, dependencies: [Dependency] = []
    ) {
        self.id = id
        self.instanceID = instanceID
        self.body = body
        self.storedKey = StoredKey(idempotencyKey)
        self.idempotencyKeyGiven = idempotencyKeyGiven
        self.enqueuedAt = enqueuedAt
        self.storedDependencies = StoredDependencies(dependencies)
    }

    /// Creates an operation from the parts another compact form kept (the queue's entries).
    init(
        id: UInt64, instanceID: String, body: Body, storedKey: StoredKey, idempotencyKeyGiven: Bool, enqueuedAt: Date,
        storedDependencies: StoredDependencies
    ) {
        self.id = id
        self.instanceID = instanceID
        self.body = body
        self.storedKey = storedKey
        self.idempotencyKeyGiven = idempotencyKeyGiven
        self.enqueuedAt = enqueuedAt
        self.storedDependencies = storedDependencies
    }

    private enum CodingKeys: String, CodingKey {
        case id, instanceID, body, idempotencyKey, idempotencyKeyGiven, enqueuedAt, dependencies
    }

    /// Decodes an operation; one encoded without `idempotencyKeyGiven` reads as a generated key.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try container.decode(UInt64.self, forKey: .id),
            instanceID: try container.decode(String.self, forKey: .instanceID),
            body: try container.decode(Body.self, forKey: .body),
            idempotencyKey: try container.decode(String.self, forKey: .idempotencyKey),
            idempotencyKeyGiven: try container.decodeIfPresent(Bool.self, forKey: .idempotencyKeyGiven) ?? false,
            enqueuedAt: try container.decode(Date.self, forKey: .enqueuedAt),
            dependencies: try container.decode([Dependency].self, forKey: .dependencies))
    }

    /// Encodes the operation's public members.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(instanceID, forKey: .instanceID)
        try container.encode(body, forKey: .body)
        try container.encode(idempotencyKey, forKey: .idempotencyKey)
        try container.encode(idempotencyKeyGiven, forKey: .idempotencyKeyGiven)
        try container.encode(enqueuedAt, forKey: .enqueuedAt)
        try container.encode(dependencies, forKey: .dependencies)
    }

    /// The length of ``idempotencyKey`` in UTF-8 bytes, without building it.
    var idempotencyKeyLength: Int { storedKey.utf8Count }

    /// Whether it depends on `operationID`, without building ``dependencies``.
    func dependsOn(_ operationID: UInt64) -> Bool {
        storedDependencies.contains(operationID)
    }

    /// About the bytes the operation takes in a queue, in memory or in a queue file: a fixed part for its ids, key,
    /// times and dependencies (``fixedSize``), plus its payloads as JSON. What ``PrefactorClient/Configuration/maxQueuedBytes``
    /// counts.
    public var estimatedSize: Int {
        let payload: Int
        switch body {
        case .startInstance, .finishInstance: payload = 0
        case .recordQuality(_, let values): payload = values.map(JSONValue.estimatedSize) ?? 0
        case .createSpan(_, _, _, _, let values, _): payload = JSONValue.estimatedSize(values)
        case .finishSpan(_, _, let values, _): payload = values.map(JSONValue.estimatedSize) ?? 0
        }
        return Self.fixedSize + payload
    }

    /// Whether it carries a payload (span parameters, a span result or a quality record).
    var hasPayload: Bool {
        switch body {
        case .startInstance, .finishInstance: return false
        case .recordQuality(_, let payload): return payload != nil
        case .createSpan(_, _, _, _, let payload, _): return !payload.isEmpty
        case .finishSpan(_, _, let result, _): return result != nil
        }
    }

    /// The operation without its payload (kept in a queue file meanwhile); ``hasPayload`` is then false.
    var withoutPayload: TelemetryOperation {
        var copy = self
        switch body {
        case .startInstance, .finishInstance: break
        case .recordQuality(let name, _): copy.body = .recordQuality(name: name, payload: nil)
        case .createSpan(let spanID, let parentSpanID, let schemaName, let status, _, let startedAt):
            copy.body = .createSpan(
                spanID: spanID, parentSpanID: parentSpanID, schemaName: schemaName, status: status, payload: [:],
                startedAt: startedAt)
        case .finishSpan(let spanID, let status, _, let timestamp):
            copy.body = .finishSpan(spanID: spanID, status: status, resultPayload: nil, timestamp: timestamp)
        }
        return copy
    }

    /// The part of ``estimatedSize`` every operation has, whatever its payload.
    public static let fixedSize = 256

    /// The kind of call.
    public var kind: Kind {
        switch body {
        case .startInstance: return .startInstance
        case .finishInstance: return .finishInstance
        case .recordQuality: return .recordQuality
        case .createSpan: return .createSpan
        case .finishSpan: return .finishSpan
        }
    }

    /// The local span id, for span operations.
    public var spanID: String? {
        switch body {
        case .createSpan(let spanID, _, _, _, _, _), .finishSpan(let spanID, _, _, _): return spanID
        default: return nil
        }
    }
}

/// An operation that failed permanently, with the reason.
public struct FailedOperation: Sendable, Hashable {
    /// The operation.
    public var operation: TelemetryOperation
    /// Why it failed.
    public var reason: String
    /// The HTTP status, when the API answered.
    public var status: Int?

    /// Creates a failed operation.
    public init(operation: TelemetryOperation, reason: String, status: Int? = nil) {
        self.operation = operation
        self.reason = reason
        self.status = status
    }
}

/// What a shutdown could not deliver: nothing is dropped silently.
public struct DeliveryReport: Sendable, Hashable {
    /// Operations still queued or in flight when the deadline passed.
    public var undelivered: [TelemetryOperation]
    /// Operations that failed permanently during the client's life.
    public var failed: [FailedOperation]
    /// Operations delivered during the client's life.
    public var deliveredCount: Int

    /// Whether everything was delivered.
    public var isComplete: Bool { undelivered.isEmpty && failed.isEmpty }
}

// MARK: The queue file's record

extension TelemetryOperation {
    /// The operation as one compact JSON object, for a queue file (see ``writeRecord(to:)``).
    package var recordText: String {
        var output = JSONBytes(capacity: 320)
        writeRecord(to: &output)
        return String(decoding: output.bytes, as: UTF8.self)
    }

    /// Appends the operation as one compact JSON object, for a queue file: written on the agent's path, so it is
    /// built member by member in UTF-8 bytes rather than through `Codable` or `String` (several times cheaper). Dates
    /// are seconds since the reference date, written with every digit they need, so they read back exactly.
    package func writeRecord(to out: inout JSONBytes) {
        out.raw("{\"id\":\(Int64(bitPattern: id)),\"instance\":")
        out.string(instanceID)
        out.raw(",\"key\":")
        storedKey.write(to: &out)
        out.raw(idempotencyKeyGiven ? ",\"given\":true,\"queued\":" : ",\"given\":false,\"queued\":")
        out.value(.double(enqueuedAt.timeIntervalSinceReferenceDate))
        out.raw(",\"deps\":[")
        var separator = "["
        storedDependencies.forEach { dependency in
            out.raw(separator)
            separator = ",["
            out.value(.int(Int64(bitPattern: dependency.operationID)))
            out.raw(dependency.kind == .requires ? ",\"requires\"]" : ",\"after\"]")
        }
        out.raw("],\"body\":{\"t\":")
        out.string(kind.rawValue)
        switch body {
        case .startInstance(let timestamp):
            out.raw(",\"at\":")
            out.value(.double(timestamp.timeIntervalSinceReferenceDate))
        case .finishInstance(let status, let timestamp):
            out.raw(",\"status\":")
            out.string(status.rawValue)
            out.raw(",\"at\":")
            out.value(.double(timestamp.timeIntervalSinceReferenceDate))
        case .recordQuality(let name, let payload):
            out.raw(",\"name\":")
            out.string(name)
            out.raw(",\"payload\":")
            out.value(payload.map { .object($0) } ?? .null)
        case .createSpan(let spanID, let parentSpanID, let schemaName, let status, let payload, let startedAt):
            out.raw(",\"span\":")
            out.string(spanID)
            out.raw(",\"parent\":")
            out.string(parentSpanID)
            out.raw(",\"schema\":")
            out.string(schemaName)
            out.raw(",\"status\":")
            out.string(status.rawValue)
            out.raw(",\"payload\":")
            out.value(.object(payload))
            out.raw(",\"started\":")
            out.value(.double(startedAt.timeIntervalSinceReferenceDate))
        case .finishSpan(let spanID, let status, let resultPayload, let timestamp):
            out.raw(",\"span\":")
            out.string(spanID)
            out.raw(",\"status\":")
            out.string(status.rawValue)
            out.raw(",\"result\":")
            out.value(resultPayload.map { .object($0) } ?? .null)
            out.raw(",\"at\":")
            out.value(.double(timestamp.timeIntervalSinceReferenceDate))
        }
        out.raw("}}")
    }

    /// Reads an operation from its ``recordText``.
    ///
    /// - Throws: ``RecordError`` when the record is not one (a torn or damaged write).
    package init(recordText bytes: some Sequence<UInt8>) throws(RecordError) {
        guard let value = try? JSONParser.parse(bytes), let record = value.objectValue,
            let id = record["id"]?.intValue, let instance = record["instance"]?.stringValue,
            let key = record["key"]?.stringValue, let given = record["given"]?.boolValue,
            let queued = Self.date(record["queued"]), let deps = record["deps"]?.arrayValue,
            let body = record["body"]?.objectValue, let kindName = body["t"]?.stringValue,
            let kind = Kind(rawValue: kindName)
        else { throw RecordError() }
        var dependencies: [Dependency] = []
        for item in deps {
            guard let pair = item.arrayValue, pair.count == 2, let other = pair[0].intValue,
                let how = pair[1].stringValue.flatMap(DependencyKind.init(rawValue:))
            else { throw RecordError() }
            dependencies.append(Dependency(operationID: UInt64(bitPattern: other), kind: how))
        }
        let decoded: Body
        switch kind {
        case .startInstance:
            guard let at = Self.date(body["at"]) else { throw RecordError() }
            decoded = .startInstance(timestamp: at)
        case .finishInstance:
            guard let status = body["status"]?.stringValue.flatMap(FinishStatus.init(rawValue:)), let at = Self.date(body["at"])
            else { throw RecordError() }
            decoded = .finishInstance(status: status, timestamp: at)
        case .recordQuality:
            guard let name = body["name"]?.stringValue, let payload = body["payload"] else { throw RecordError() }
            decoded = .recordQuality(name: name, payload: payload.objectValue)
        case .createSpan:
            guard let span = body["span"]?.stringValue, let schema = body["schema"]?.stringValue,
                let status = body["status"]?.stringValue.flatMap(AgentStatus.init(rawValue:)),
                let payload = body["payload"]?.objectValue, let started = Self.date(body["started"])
            else { throw RecordError() }
            decoded = .createSpan(
                spanID: span, parentSpanID: body["parent"]?.stringValue, schemaName: schema, status: status,
                payload: payload, startedAt: started)
        case .finishSpan:
            guard let span = body["span"]?.stringValue,
                let status = body["status"]?.stringValue.flatMap(FinishStatus.init(rawValue:)), let at = Self.date(body["at"])
            else { throw RecordError() }
            decoded = .finishSpan(spanID: span, status: status, resultPayload: body["result"]?.objectValue, timestamp: at)
        }
        self.init(
            id: UInt64(bitPattern: id), instanceID: instance, body: decoded, idempotencyKey: key, idempotencyKeyGiven: given,
            enqueuedAt: queued, dependencies: dependencies)
    }

    private static func date(_ value: JSONValue?) -> Date? {
        guard let value else { return nil }
        if let seconds = value.doubleValue { return Date(timeIntervalSinceReferenceDate: seconds) }
        if let seconds = value.intValue { return Date(timeIntervalSinceReferenceDate: Double(seconds)) }
        return nil
    }

    /// A queue-file record that cannot be read.
    package struct RecordError: Error {}
}

/// An idempotency key as an operation keeps it: one the client generated (a lowercase UUID v4, as
/// ``IdempotencyKey/generate()`` writes them) as its 128 bits, any other as its text. The text reads back exactly.
enum StoredKey: Hashable, Sendable {
    case uuid(high: UInt64, low: UInt64)
    /// Any key that is not a lowercase UUID v4.
    case other(String)

    init(_ text: String) {
        if let (high, low) = Self.uuidBits(text) { self = .uuid(high: high, low: low) } else { self = .other(text) }
    }

    /// The key's text.
    var text: String {
        switch self {
        case .uuid(let high, let low): return IdempotencyKey.format(high: high, low: low)
        case .other(let text): return text
        }
    }

    /// The text's length in UTF-8 bytes.
    var utf8Count: Int {
        switch self {
        case .uuid: return 36
        case .other(let text): return text.utf8.count
        }
    }

    /// Writes the key as a JSON string (a generated key straight from its bits).
    func write(to out: inout JSONBytes) {
        switch self {
        case .uuid(let high, let low):
            out.bytes.append(UInt8(ascii: "\""))
            IdempotencyKey.append(high: high, low: low, to: &out.bytes)
            out.bytes.append(UInt8(ascii: "\""))
        case .other(let text): out.string(text)
        }
    }

    /// The bits of a lowercase UUID v4 text whose formatting gives the same text back, or `nil`.
    static func uuidBits(_ text: String) -> (UInt64, UInt64)? {
        let utf8 = text.utf8
        guard utf8.count == 36 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        var nibbles = 0
        for (index, byte) in utf8.enumerated() {
            if index == 8 || index == 13 || index == 18 || index == 23 {
                guard byte == UInt8(ascii: "-") else { return nil }
                continue
            }
            let value: UInt64
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt64(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = UInt64(byte - UInt8(ascii: "a") + 10)
            default: return nil
            }
            if nibbles < 16 { high = high << 4 | value } else { low = low << 4 | value }
            nibbles += 1
        }
        // Version 4 and variant 10xx: the formatting sets these bits, so only such a key reads back as it was.
        guard (high >> 12) & 0xF == 4, low >> 62 == 0b10 else { return nil }
        return (high, low)
    }
}
