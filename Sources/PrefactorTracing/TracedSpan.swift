import Foundation
import PrefactorCore
import PrefactorWire
import Tracing

/// What the tracer knows of one span, and the rules that make a Prefactor span of it: its schema name and the
/// payload of its create, then its status and result when it ends. A value without I/O or locks; ``SpanNode`` holds
/// it under a lock and queues what it says.
struct TracedSpan: Sendable {
    /// The attribute that names the span's type (its schema name) instead of the tracer's default. Read when the
    /// create is queued, and not copied into the payload.
    static let schemaNameAttribute = "prefactor.schema_name"

    /// The span's name (`withSpan`'s first argument; libraries may rename it before it ends).
    var operationName: String
    /// The kind, as `client`, `server`, `producer`, `consumer` or `internal`.
    let kind: String
    /// The W3C ids: this span's trace and span id, and its parent's span id (local or remote).
    let traceID: String
    let spanID: String
    let parentID: String?
    /// The attributes so far.
    var attributes: SpanAttributes = [:]
    /// The status set by `setStatus`; `ok` is final, as OpenTelemetry asks.
    private(set) var status: SpanStatus?
    /// The last error recorded.
    private(set) var error: RecordedError?
    /// Events added, as JSON.
    private(set) var events: [JSONValue] = []
    /// What the create carried (name and attributes), once it is queued: later changes go into the result.
    private(set) var sent: (name: String, attributes: [String: JSONValue])?

    /// An error recorded on the span.
    struct RecordedError: Sendable, Equatable {
        /// `String(describing:)` of the error.
        var message: String
        /// The error's type name.
        var type: String
        /// Whether it was a `CancellationError`: the span was cancelled rather than failed.
        var isCancellation: Bool

        init(_ error: any Error) {
            message = String(describing: error)
            type = "\(Swift.type(of: error))"
            isCancellation = error is CancellationError
        }
    }

    init(operationName: String, kind: SpanKind, traceID: String, spanID: String, parentID: String?) {
        self.operationName = operationName
        self.kind = Self.name(of: kind)
        self.traceID = traceID
        self.spanID = spanID
        self.parentID = parentID
    }

    // MARK: Changes

    /// Sets the status, unless it was set to `ok` before (final).
    mutating func setStatus(_ status: SpanStatus) {
        if self.status?.code == .ok { return }
        self.status = status
    }

    /// Records an error: the span fails (or is cancelled) unless its status was set to `ok`.
    mutating func recordError(_ error: any Error) {
        self.error = RecordedError(error)
    }

    /// Adds an event, kept for the result.
    mutating func addEvent(_ event: SpanEvent) {
        var object: [String: JSONValue] = [
            "name": .string(event.name),
            "at": .string(WireDate.format(microseconds: Int64(event.nanosecondsSinceEpoch / 1000))),
        ]
        if !event.attributes.isEmpty { object["attributes"] = .object(Self.json(event.attributes)) }
        events.append(.object(object))
    }

    // MARK: The create

    /// The schema name and payload of the span's create, and notes what it carried, so that the result holds only
    /// what changed after it.
    ///
    /// The payload is `name` (the operation name, which the terminal UI shows beside the span type), `kind`, `trace`
    /// (`trace_id`, `span_id` and, with a parent, `parent_id`, in W3C hex) and `attributes` (when there are any).
    mutating func takeCreate(defaultSchemaName: String) -> (schemaName: String, payload: [String: JSONValue]) {
        var attributes = Self.json(attributes)
        let schemaName = attributes.removeValue(forKey: Self.schemaNameAttribute)?.stringValue ?? defaultSchemaName
        sent = (operationName, attributes)
        var trace: [String: JSONValue] = ["trace_id": .string(traceID), "span_id": .string(spanID)]
        if let parentID { trace["parent_id"] = .string(parentID) }
        var payload: [String: JSONValue] = ["name": .string(operationName), "kind": .string(kind), "trace": .object(trace)]
        if !attributes.isEmpty { payload["attributes"] = .object(attributes) }
        return (schemaName, payload)
    }

    // MARK: The finish

    /// The status the span finishes with: `complete` when its status was set to `ok`; otherwise `failed` when its
    /// status was set to `error` or an error was recorded (`cancelled` when that error is a `CancellationError`);
    /// else `complete`.
    var finishStatus: FinishStatus {
        if status?.code == .ok { return .complete }
        if error?.isCancellation == true { return .cancelled }
        if status?.code == .error || error != nil { return .failed }
        return .complete
    }

    /// The result sent with the finish: `error` and `error_type` of the last recorded error, `status_message` of an
    /// `error` status, `events`, and what changed after the create: `attributes` added or changed, and `name` when the
    /// span was renamed. Empty when there is nothing to say.
    var result: [String: JSONValue] {
        var result: [String: JSONValue] = [:]
        if let error {
            result["error"] = .string(error.message)
            result["error_type"] = .string(error.type)
        }
        if let status, status.code == .error, let message = status.message { result["status_message"] = .string(message) }
        if !events.isEmpty { result["events"] = .array(events) }
        let sentAttributes = sent?.attributes ?? [:]
        var changed = Self.json(attributes).filter { key, value in sentAttributes[key] != value }
        changed[Self.schemaNameAttribute] = nil
        if !changed.isEmpty { result["attributes"] = .object(changed) }
        if let sent, sent.name != operationName { result["name"] = .string(operationName) }
        return result
    }

    // MARK: Mapping

    /// The attributes as a JSON object, by attribute name.
    static func json(_ attributes: SpanAttributes) -> [String: JSONValue] {
        var object: [String: JSONValue] = [:]
        attributes.forEach { name, value in object[name] = json(value) }
        return object
    }

    /// One attribute as JSON: numbers, booleans and strings as themselves (a double that JSON cannot hold, such as
    /// NaN or infinity, as its description), arrays as arrays, and values only convertible to a string as their
    /// description.
    static func json(_ attribute: SpanAttribute) -> JSONValue {
        switch attribute {
        case .int32(let value): return .int(Int64(value))
        case .int64(let value): return .int(value)
        case .double(let value): return json(value)
        case .bool(let value): return .bool(value)
        case .string(let value): return .string(value)
        case .int32Array(let values): return .array(values.map { .int(Int64($0)) })
        case .int64Array(let values): return .array(values.map { .int($0) })
        case .doubleArray(let values): return .array(values.map(json))
        case .boolArray(let values): return .array(values.map { .bool($0) })
        case .stringArray(let values): return .array(values.map { .string($0) })
        case .stringConvertible(let value): return .string(value.description)
        case .stringConvertibleArray(let values): return .array(values.map { .string($0.description) })
        default: return .string("\(attribute)")
        }
    }

    private static func json(_ value: Double) -> JSONValue {
        value.isFinite ? .double(value) : .string(value.description)
    }

    /// The kind's name, as OpenTelemetry spells it.
    static func name(of kind: SpanKind) -> String {
        switch kind {
        case .client: return "client"
        case .server: return "server"
        case .producer: return "producer"
        case .consumer: return "consumer"
        case .internal: return "internal"
        }
    }
}
