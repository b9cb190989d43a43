import Foundation
import PrefactorCore
import PrefactorWire
import Synchronization
import Tracing
import W3CTraceContext

/// The shared state of one tracing span: what ``TracedSpan`` knows, whether it ended, and its Prefactor span once
/// its create is queued. Every ``PrefactorSpan`` value of the span and every context that carries it share one node.
///
/// The create is queued lazily, so that it carries the attributes libraries set right after starting a span: when
/// the first child span starts (a parent must exist before its children), or else when the span ends. Its start
/// time is always when the span started.
final class SpanNode: Sendable {
    /// The span's W3C context.
    let trace: TraceContext
    /// The instance the span is recorded in; `nil` when it is not recorded.
    let instance: AgentInstanceHandle?
    /// The parent's Prefactor span, when the parent is a local span recorded in the same instance.
    private let parentSpanID: String?
    /// The core's open spans where the span started: the parent when there is no tracing parent.
    private let openSpans: [String]
    private let startedAt: Date
    private let defaultSchemaName: String
    /// The spans whose context went out over the wire.
    private let injected: InjectedSpans
    private let state: Mutex<State>

    private struct State {
        var span: TracedSpan
        var ended = false
        /// The Prefactor span's local id, once its create is queued.
        var prefactorID: String?
        /// The create could not be queued (the client is shut down or its queue is full): the span is not recorded.
        var dropped = false
        /// Whether it is in ``InjectedSpans``.
        var published = false
    }

    init(
        span: TracedSpan, trace: TraceContext, instance: AgentInstanceHandle?, parentSpanID: String?, openSpans: [String],
        startedAt: Date, defaultSchemaName: String, injected: InjectedSpans
    ) {
        self.trace = trace
        self.instance = instance
        self.parentSpanID = parentSpanID
        self.openSpans = openSpans
        self.startedAt = startedAt
        self.defaultSchemaName = defaultSchemaName
        self.injected = injected
        self.state = Mutex(State(span: span))
    }

    /// Whether changes are still recorded: the span belongs to an instance and has not ended.
    var isRecording: Bool {
        instance != nil && state.withLock { !$0.ended }
    }

    /// Reads the span.
    func read<T>(_ body: (TracedSpan) -> T) -> T {
        state.withLock { body($0.span) }
    }

    /// Changes the span while it is recording; does nothing after it ended or when it is not recorded.
    func update(_ body: (inout TracedSpan) -> Void) {
        guard instance != nil else { return }
        state.withLock { state in
            if !state.ended { body(&state.span) }
        }
    }

    /// The Prefactor span's id, queuing its create now if it was not yet: `nil` when the span is not recorded.
    func prefactorSpanID() -> String? {
        state.withLock { create(&$0) }
    }

    /// Ends the span: queues its create if needed, then its finish with the status and result ``TracedSpan`` says.
    /// A second end does nothing.
    func end(at finishedAt: Date) {
        let published = state.withLock { state -> Bool in
            guard !state.ended else { return false }
            state.ended = true
            if let instance, let id = create(&state) {
                let result = state.span.result
                // Refused only when the client is shut down: the span is then lost with everything else not queued.
                try? instance.client.spanManager.finishNow(
                    id, resultPayload: result.isEmpty ? nil : result, status: state.span.finishStatus, at: finishedAt)
            }
            return state.published
        }
        if published { injected.remove(trace.spanID) }
    }

    /// Makes the span findable by the span ID its context carries over the wire, until it ends, so that a server
    /// span of this process that continues the trace nests under it.
    func publish() {
        let added = state.withLock { state -> Bool in
            guard instance != nil, !state.ended, !state.published else { return false }
            state.published = true
            return true
        }
        if added { injected.add(self) }
    }

    private func create(_ state: inout State) -> String? {
        if let id = state.prefactorID { return id }
        guard let instance, !state.dropped else { return nil }
        let (schemaName, payload) = state.span.takeCreate(defaultSchemaName: defaultSchemaName)
        do {
            let id = try instance.client.spanManager.startNow(
                instanceID: instance.id, schemaName: schemaName, parentSpanID: parentSpanID, openSpans: openSpans,
                payload: payload, startedAt: startedAt)
            state.prefactorID = id
            return id
        } catch {
            state.dropped = true
            return nil
        }
    }
}

/// The spans of one tracer whose context was injected into an outgoing carrier, by W3C span ID, while they run.
final class InjectedSpans: Sendable {
    private let nodes = Mutex<[SpanID: SpanNode]>([:])

    func add(_ node: SpanNode) {
        nodes.withLock { $0[node.trace.spanID] = node }
    }

    func remove(_ id: SpanID) {
        _ = nodes.withLock { $0.removeValue(forKey: id) }
    }

    /// The running span with this trace and span ID.
    func node(for trace: TraceContext) -> SpanNode? {
        nodes.withLock { $0[trace.spanID] }.flatMap { $0.trace.traceID == trace.traceID ? $0 : nil }
    }
}
