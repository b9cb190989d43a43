import Instrumentation
import PrefactorCore
import W3CTraceContext

/// The enclosing span a context carries: its W3C context, and the span itself when it is a span of this process.
struct EnclosingSpan: Sendable {
    var trace: TraceContext
    var node: SpanNode?
}

enum EnclosingSpanKey: ServiceContextKey {
    typealias Value = EnclosingSpan
    static var nameOverride: String? { "prefactor-span" }
}

enum AgentInstanceKey: ServiceContextKey {
    typealias Value = AgentInstanceHandle
    static var nameOverride: String? { "prefactor-agent-instance" }
}

extension ServiceContext {
    /// The agent instance that ``PrefactorTracer`` records spans of this context in; it is never sent over the wire.
    public var prefactorAgentInstance: AgentInstanceHandle? {
        get { self[AgentInstanceKey.self] }
        set { self[AgentInstanceKey.self] = newValue }
    }

    /// The W3C trace context of the enclosing span: a span of ``PrefactorTracer``, or the caller's span read from
    /// incoming `traceparent` and `tracestate` headers.
    public var prefactorTraceContext: TraceContext? {
        self[EnclosingSpanKey.self]?.trace
    }
}

/// Runs `body` with `instance` bound to the current `ServiceContext`: ``PrefactorTracer`` records the spans started
/// in it (and in the tasks it creates) in that instance.
///
/// - Parameters:
///   - instance: The agent instance.
///   - isolation: Where `body` runs: the caller's actor.
///   - body: The work.
/// - Returns: What `body` returns.
/// - Throws: What `body` throws.
public func withAgentInstance<T>(
    _ instance: AgentInstanceHandle, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T
) async rethrows -> T {
    var context = ServiceContext.current ?? .topLevel
    context.prefactorAgentInstance = instance
    return try await ServiceContext.withValue(context, isolation: isolation, operation: body)
}
