import Foundation
import Instrumentation
import PrefactorCore
import Tracing
import W3CTraceContext

/// A `Tracer` for swift-distributed-tracing that records spans as Prefactor spans of an agent instance, through the
/// instance's ``PrefactorClient`` and its queue: starting and ending a span never waits on the network.
///
/// ```swift
/// let run = try await client.createAgentInstance(agentVersion: ["name": "support-bot"], agentSchemaVersion: [:])
/// InstrumentationSystem.bootstrap(PrefactorTracer(instance: run))
/// try await withSpan("plan") { span in
///     span.attributes["gen_ai.request.model"] = "gpt-4o"
///     let response = try await httpClient.execute(request, timeout: .seconds(30))   // a child span: "GET"
/// }
/// ```
///
/// **Which instance.** A span is recorded in the instance bound to its context (``withAgentInstance(_:isolation:_:)``
/// or ``InstrumentationContext/prefactorAgentInstance``), else its parent's, else the tracer's `instance`. A span
/// with none of them is not recorded (its trace context still propagates).
///
/// **What maps to what.** The Prefactor span's type is the span's `prefactor.schema_name` attribute, else the
/// tracer's `defaultSchemaName`. Its payload holds the span's `name`, `kind`, W3C `trace` ids and `attributes`; it is
/// created (status `active`, started when the span started) when its first child starts or else when it ends, so
/// that attributes set after `startSpan` are in it. Ending it finishes it: `failed` when its status was set to
/// `error` or an error was recorded (`cancelled` for a `CancellationError`), `complete` otherwise or when its status
/// was set to `ok`. The result carries the error, events, and attributes added or changed after the create. A
/// second `end()` is ignored. Links are not recorded.
///
/// **Propagation.** Parents come from the `ServiceContext` (the enclosing `withSpan`); a span without a tracing
/// parent nests under the enclosing ``AgentInstanceHandle/span(_:parentSpanID:payload:isolation:_:)``. `inject` writes
/// the W3C `traceparent` (and `tracestate`) headers; `extract` reads them, so a server span continues the caller's
/// trace, and nests under the caller's span when the caller is a span of this tracer.
public struct PrefactorTracer: Tracer {
    /// The tracer's span type.
    public typealias Span = PrefactorSpan

    /// The instance of spans whose context names none.
    public let instance: AgentInstanceHandle?
    /// The span type of spans without a `prefactor.schema_name` attribute.
    public let defaultSchemaName: String
    private let injected = InjectedSpans()

    /// Creates a tracer.
    ///
    /// - Parameters:
    ///   - instance: The instance of spans whose context names none (a service that runs one agent instance);
    ///     `nil` records only spans of bound instances.
    ///   - defaultSchemaName: The span type of spans without a `prefactor.schema_name` attribute.
    public init(instance: AgentInstanceHandle? = nil, defaultSchemaName: String = "agent:span") {
        self.instance = instance
        self.defaultSchemaName = defaultSchemaName
    }

    /// Starts a span; see the type's documentation for how it is recorded.
    public func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> PrefactorSpan {
        var context = context()
        let enclosing = context[EnclosingSpanKey.self]
        let parent = enclosing?.node
        let instance = context.prefactorAgentInstance ?? parent?.instance ?? self.instance
        let trace = TraceContext(
            traceID: enclosing?.trace.traceID ?? .random(), spanID: .random(), flags: .sampled,
            state: enclosing?.trace.state ?? TraceState())
        // A parent must exist before its children: starting a child queues its parent's create.
        let parentSpanID = instance != nil && parent?.instance == instance ? parent?.prefactorSpanID() : nil
        let span = TracedSpan(
            operationName: operationName, kind: kind, traceID: trace.traceID.description, spanID: trace.spanID.description,
            parentID: enclosing?.trace.spanID.description)
        let node = SpanNode(
            span: span, trace: trace, instance: instance, parentSpanID: parentSpanID,
            openSpans: instance == nil ? [] : SpanStack.current, startedAt: Self.date(instant()),
            defaultSchemaName: defaultSchemaName, injected: injected)
        context[EnclosingSpanKey.self] = EnclosingSpan(trace: trace, node: node)
        if let instance { context.prefactorAgentInstance = instance }
        return PrefactorSpan(context: context, node: node)
    }

    /// Does nothing: spans are handed to the client's queue as they end; the client delivers and drains it.
    public func forceFlush() {}

    /// Writes the W3C `traceparent` (and `tracestate`) of the context's span into an outgoing carrier.
    public func inject<Carrier, Inject: Injector>(
        _ context: ServiceContext, into carrier: inout Carrier, using injector: Inject
    ) where Inject.Carrier == Carrier {
        guard let enclosing = context[EnclosingSpanKey.self] else { return }
        injector.inject(enclosing.trace.traceParentHeaderValue, forKey: TraceHeaders.traceParent, into: &carrier)
        if let state = enclosing.trace.traceStateHeaderValue {
            injector.inject(state, forKey: TraceHeaders.traceState, into: &carrier)
        }
        enclosing.node?.publish()
    }

    /// Reads the W3C `traceparent` (and `tracestate`) of an incoming carrier into the context, so that spans started
    /// from it continue the caller's trace. A missing or invalid `traceparent` leaves the context as it was.
    public func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract
    ) where Extract.Carrier == Carrier {
        guard let parent = extractor.extract(key: TraceHeaders.traceParent, from: carrier),
            let trace = try? TraceContext(
                traceParentHeaderValue: parent,
                traceStateHeaderValue: extractor.extract(key: TraceHeaders.traceState, from: carrier))
        else { return }
        context[EnclosingSpanKey.self] = EnclosingSpan(trace: trace, node: injected.node(for: trace))
    }

    static func date(_ instant: some TracerInstant) -> Date {
        Date(timeIntervalSince1970: Double(instant.nanosecondsSinceEpoch) / 1_000_000_000)
    }
}

/// The W3C Trace Context header names.
enum TraceHeaders {
    static let traceParent = "traceparent"
    static let traceState = "tracestate"
}

/// A span of a ``PrefactorTracer``: a Prefactor span of an agent instance. Every change is ignored once it ended.
public struct PrefactorSpan: Tracing.Span {
    /// The span's context: its parent's, with this span as the enclosing span and its agent instance.
    public let context: ServiceContext
    let node: SpanNode

    /// The span's name, recorded as `name` in the payload (and in the result when it changes after the create).
    public var operationName: String {
        get { node.read(\.operationName) }
        nonmutating set { node.update { $0.operationName = newValue } }
    }

    /// The span's attributes, recorded in the payload (and those set or changed after the create, in the result).
    public var attributes: SpanAttributes {
        get { node.read(\.attributes) }
        nonmutating set { node.update { $0.attributes = newValue } }
    }

    /// Whether the span records changes: it belongs to an agent instance and has not ended.
    public var isRecording: Bool { node.isRecording }

    /// Sets the status: `error` finishes the span as `failed`; `ok` as `complete`, and is final.
    public func setStatus(_ status: SpanStatus) {
        node.update { $0.setStatus(status) }
    }

    /// Records an event, sent in the result.
    public func addEvent(_ event: SpanEvent) {
        node.update { $0.addEvent(event) }
    }

    /// Records an error, sent in the result; the span finishes as `failed` (`cancelled` for a
    /// `CancellationError`) unless its status was set to `ok`.
    public func recordError<Instant: TracerInstant>(
        _ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant
    ) {
        node.update { $0.recordError(error) }
    }

    /// Links are not recorded: Prefactor spans have one parent.
    public func addLink(_ link: SpanLink) {}

    /// Ends the span: its Prefactor span is finished at `instant`. A second end is ignored.
    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        node.end(at: PrefactorTracer.date(instant()))
    }

    /// The Prefactor span's local id (accepted wherever an API id is), for a span of the core API that should nest
    /// under this one; queues the span's create now if it was not queued yet. `nil` when the span is not recorded.
    public func prefactorSpanID() -> String? {
        node.prefactorSpanID()
    }
}
