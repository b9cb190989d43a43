import Foundation
import PrefactorCore
import PrefactorTUI
import PrefactorWire
import Testing

// MARK: Fixed time

/// The instant every fixture starts at: 2026-01-01T00:00:00Z. Tests never use `Date()` in expectations.
let t0 = Date(timeIntervalSince1970: 1_767_225_600)

/// `t0` plus some seconds.
func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

// MARK: Snapshot builders

func instance(
    _ id: String, _ phase: InstancePhase = .active, registered: Double = 0, started: Double? = 0, finished: Double? = nil,
    reason: String? = nil, agent: String? = "agent-1"
) -> InstanceSnapshot {
    InstanceSnapshot(
        id: id, agentID: agent, phase: phase, registeredAt: at(registered), startedAt: started.map(at),
        finishedAt: finished.map(at), terminationReason: reason)
}

func span(
    _ id: String, in instanceID: String, parent: String? = nil, _ schema: String, _ phase: SpanPhase, apiID: String? = nil,
    payload: [String: JSONValue] = [:], result: [String: JSONValue]? = nil, prepared: Double = 0, started: Double? = nil,
    finished: Double? = nil, deliveryError: String? = nil
) -> SpanSnapshot {
    SpanSnapshot(
        id: id, apiID: apiID, instanceID: instanceID, parentID: parent, schemaName: schema, phase: phase, payload: payload,
        resultPayload: result, preparedAt: at(prepared), startedAt: started.map(at), finishedAt: finished.map(at),
        createDelivered: apiID != nil, finishDelivered: phase.isFinished && apiID != nil, deliveryError: deliveryError)
}

func createOperation(
    _ id: UInt64, instance instanceID: String, span spanID: String, parent: String? = nil, schema: String, enqueued: Double
) -> TelemetryOperation {
    TelemetryOperation(
        id: id, instanceID: instanceID,
        body: .createSpan(
            spanID: spanID, parentSpanID: parent, schemaName: schema, status: .active, payload: [:], startedAt: at(enqueued)),
        idempotencyKey: "key-\(id)", enqueuedAt: at(enqueued))
}

func finishOperation(
    _ id: UInt64, instance instanceID: String, span spanID: String, status: FinishStatus = .complete, enqueued: Double
)
    -> TelemetryOperation
{
    TelemetryOperation(
        id: id, instanceID: instanceID,
        body: .finishSpan(spanID: spanID, status: status, resultPayload: nil, timestamp: at(enqueued)),
        idempotencyKey: "key-\(id)", enqueuedAt: at(enqueued))
}

func startInstanceOperation(_ id: UInt64, instance instanceID: String, enqueued: Double) -> TelemetryOperation {
    TelemetryOperation(
        id: id, instanceID: instanceID, body: .startInstance(timestamp: at(enqueued)), idempotencyKey: "key-\(id)",
        enqueuedAt: at(enqueued))
}

// MARK: Models

/// An empty model at `t0`.
func emptyModel(readonly: Bool = false, noConfirm: Bool = false, demo: DemoState? = nil) -> AppModel {
    var model = AppModel(apiURL: "http://127.0.0.1:8080", readonly: readonly, noConfirm: noConfirm, demo: demo, now: t0)
    model.tick(t0)
    return model
}

extension AppModel {
    /// Moves the clock to `t0 + seconds` and applies events there (their history entries get that time).
    mutating func apply(at seconds: Double, _ events: [ClientEvent]) {
        tick(PrefactorTUITests.at(seconds))
        apply(events)
    }

    /// Sets the screen size and the tree rows it has room for, as the controller does before each frame (when the
    /// tree overflows, its last line shows the position instead of a row).
    mutating func resize(_ width: Int, _ height: Int) {
        self.width = width
        self.height = height
        let body = Geometry(for: self).bodyHeight
        refreshRows()
        treeRowsVisible = rows.count > body ? max(1, body - 1) : max(1, body)
        clampScroll()
    }

    /// Presses keys in order and returns every effect.
    @discardableResult
    mutating func press(_ keys: Key...) -> [Effect] {
        keys.flatMap { handle($0) }
    }

    /// Types text as character keys.
    @discardableResult
    mutating func type(_ text: String) -> [Effect] {
        text.flatMap { handle(.character($0)) }
    }

    /// The node ids of the visible rows.
    var rowIDs: [NodeID] { rows.map(\.node) }

    /// Renders a frame at a size (the model's size is set first).
    func frame(_ width: Int, _ height: Int, theme: Theme = Theme()) -> CellBuffer {
        var copy = self
        copy.resize(width, height)
        return Layout(model: copy, theme: theme).render()
    }
}

/// The plain text lines of a frame.
func lines(_ buffer: CellBuffer) -> [String] {
    buffer.plainText().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
}

// MARK: The rich fixture

enum IDs {
    static let alpha = "inst_alpha_0001_7f3a9c"
    static let beta = "inst_beta_0002"
    static let gamma = "inst_gamma_0003"
}

/// One run with nested spans in every status, a terminated run and a registered one; a queue with pending, in-flight
/// and retrying operations and a permanent failure; throughput over a few seconds. The clock ends at `t0 + 20`.
func richModel(health: APIHealth = .ok, demo: DemoState? = nil) -> AppModel {
    var model = emptyModel(demo: demo)
    let alpha = IDs.alpha
    model.apply(at: 0, [.instanceRegistered(instance(alpha, .registered, started: nil))])
    model.apply(at: 0.5, [.instanceStarted(instance(alpha, started: 0.5))])
    let plan = span(
        "sp-plan", in: alpha, "agent:plan", .active, apiID: "api-plan", payload: ["goal": "Answer the user's question"],
        started: 1)
    model.apply(at: 1, [.spanPrepared(span("sp-plan", in: alpha, "agent:plan", .prepared, prepared: 1)), .spanStarted(plan)])
    let llm = span(
        "sp-llm", in: alpha, parent: "sp-plan", "llm:chat", .active, apiID: "api-llm",
        payload: ["model": "gpt-4o-mini", "prompt": "Summarise the findings", "temperature": 0.2], started: 2)
    model.apply(at: 2, [.spanStarted(llm)])
    let beta = IDs.beta
    model.apply(at: 3, [.instanceStarted(instance(beta, started: 3))])
    model.apply(
        at: 4,
        [
            .spanStarted(
                span("sp-beta", in: beta, "llm:chat", .active, apiID: "api-beta", payload: ["model": "gpt-4o"], started: 4))
        ])
    var llmDone = llm
    llmDone.phase = .complete
    llmDone.finishedAt = at(5.5)
    llmDone.resultPayload = ["text": "Three sources agree.", "tokens": 412]
    model.apply(at: 5.5, [.spanFinished(llmDone)])
    let tool = span(
        "sp-tool", in: alpha, parent: "sp-plan", "tool:call", .failed, apiID: "api-tool",
        payload: ["tool": "web_search", "arguments": ["q": "swift ncurses"]], result: ["error": "HTTP 500 from search backend"],
        started: 6, finished: 7.25)
    model.apply(
        at: 6,
        [
            .spanStarted(
                {
                    var s = tool; s.phase = .active; s.finishedAt = nil; s.resultPayload = nil; return s
                }())
        ])
    model.apply(at: 7.25, [.spanFinished(tool)])
    let search = span(
        "sp-search", in: alpha, parent: "sp-plan", "retrieval:search", .active, payload: ["query": "terminal UI wcwidth"],
        started: 8)
    model.apply(at: 8, [.spanStarted(search)])
    model.apply(
        at: 9,
        [
            .spanPrepared(
                span(
                    "sp-next", in: alpha, parent: "sp-search", "llm:chat", .prepared, payload: ["model": "claude-haiku"],
                    prepared: 9))
        ])
    let cancelled = span(
        "sp-cancel", in: alpha, parent: "sp-plan", "tool:call", .cancelled, apiID: "api-cancel", payload: ["tool": "calculator"],
        started: 10, finished: 11)
    model.apply(
        at: 10,
        [
            .spanStarted(
                {
                    var s = cancelled; s.phase = .active; s.finishedAt = nil; return s
                }())
        ])
    model.apply(at: 11, [.spanFinished(cancelled)])
    model.apply(at: 11.5, [.spanPrepared(span("sp-skip", in: alpha, "agent:step", .prepared, prepared: 11.5))])
    model.apply(at: 12, [.spanFinished(span("sp-skip", in: alpha, "agent:step", .cancelled, prepared: 11.5, finished: 12))])

    model.apply(
        at: 13,
        [
            .spanFinished(
                span(
                    "sp-beta", in: beta, "llm:chat", .complete, apiID: "api-beta", payload: ["model": "gpt-4o"], started: 4,
                    finished: 9)),
            .instanceTerminated(instance(beta, .terminated, started: 3, finished: 13, reason: "runaway loop")),
        ])
    model.apply(at: 14, [.instanceRegistered(instance(IDs.gamma, .registered, registered: 14, started: nil))])

    // The queue: an in-flight create, a retrying finish, a pending create, a blocked finish; one permanent failure.
    let operations: [OperationSnapshot] = [
        OperationSnapshot(
            operation: createOperation(
                41, instance: alpha, span: "sp-search", parent: "sp-plan", schema: "retrieval:search", enqueued: 8),
            state: .inFlight(attempt: 1)),
        OperationSnapshot(
            operation: finishOperation(42, instance: alpha, span: "sp-cancel", status: .cancelled, enqueued: 11), state: .pending),
        OperationSnapshot(operation: finishOperation(43, instance: alpha, span: "sp-plan", enqueued: 15), state: .blocked),
    ]
    model.apply(at: 15, operations.map { .operationEnqueued($0) })
    model.apply(
        at: 16,
        [
            .operationEnqueued(
                OperationSnapshot(
                    operation: createOperation(44, instance: alpha, span: "sp-skip", schema: "agent:step", enqueued: 12),
                    state: .pending)),
            .operationRetrying(operationID: 44, attempt: 2, nextAttemptAt: at(23), delay: .seconds(7), error: "HTTP 503"),
            .operationFailed(
                FailedOperation(
                    operation: startInstanceOperation(7, instance: beta, enqueued: 3), reason: "HTTP 409: instance terminated",
                    status: 409)),
        ])
    // Throughput: a delivered count that grows over a few seconds.
    var delivered = 0
    for (second, count) in [(16, 3), (17, 8), (18, 5), (19, 0), (20, 2)] {
        delivered += count
        model.apply(
            at: Double(second),
            [
                .queueChanged(
                    QueueStats(
                        pending: 1, blocked: 1, inFlight: 1, retrying: 1, delivered: delivered, failed: 1, oldestEnqueuedAt: at(8)
                    ))
            ])
    }
    model.tick(at(20))
    model.apply(at: 20, [.healthChanged(health)])
    return model
}

// MARK: Golden files

/// Golden text and style files under `Tests/PrefactorTUITests/Golden/`. With `PREFACTOR_UPDATE_GOLDEN=1` the files are
/// (re)written into the source tree instead of compared.
enum Golden {
    static var sourceDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden", isDirectory: true)
    }

    static var updating: Bool { ProcessInfo.processInfo.environment["PREFACTOR_UPDATE_GOLDEN"] == "1" }

    static func read(_ file: String) -> String? {
        let bundled = Bundle.module.resourceURL?.appendingPathComponent("Golden", isDirectory: true).appendingPathComponent(file)
        for url in [bundled, sourceDirectory.appendingPathComponent(file)].compactMap({ $0 }) {
            if let data = FileManager.default.contents(atPath: url.path) { return String(decoding: data, as: UTF8.self) }
        }
        return nil
    }

    /// Compares a frame's text and style map with `name.txt` and `name.style`.
    static func check(_ buffer: CellBuffer, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let pairs = [("txt", buffer.plainText() + "\n"), ("style", buffer.styleMap() + "\n")]
        if updating {
            try FileManager.default.createDirectory(at: sourceDirectory, withIntermediateDirectories: true)
            for (ext, text) in pairs {
                try Data(text.utf8).write(to: sourceDirectory.appendingPathComponent("\(name).\(ext)"))
            }
            return
        }
        for (ext, actual) in pairs {
            guard let expected = read("\(name).\(ext)") else {
                Issue.record("Missing golden \(name).\(ext); run with PREFACTOR_UPDATE_GOLDEN=1", sourceLocation: sourceLocation)
                continue
            }
            if expected != actual {
                let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
                let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
                let line = zip(e, a).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(e.count, a.count)
                let expectedLine = line < e.count ? String(e[line]) : "<none>"
                let actualLine = line < a.count ? String(a[line]) : "<none>"
                Issue.record(
                    "\(name).\(ext) differs at line \(line + 1):\n  expected: \(expectedLine)\n  actual:   \(actualLine)\n\(actual)",
                    sourceLocation: sourceLocation)
            }
        }
    }
}
