import Instrumentation
import PrefactorCore
import PrefactorServerTesting
import PrefactorWire
import Testing
import Tracing
import W3CTraceContext

@testable import PrefactorTracing

/// How the tracer finds the instance and the parent of a span, ends spans, and carries trace context in and out.
@Suite(.timeLimit(.minutes(1)))
struct TracerTests {
    struct Boom: Error {}

    @Test func aSpanEndedTwiceIsFinishedOnceAndIgnoresLaterChanges() async throws {
        try await withTestServer { server in
            let (instanceID, _) = try await withTracedRun(server) { run in
                let span = PrefactorTracer(instance: run).startSpan("step")
                span.attributes["before"] = 1
                #expect(span.isRecording)
                span.end()
                #expect(!span.isRecording)
                span.attributes["after"] = 2
                span.recordError(Boom())
                span.setStatus(SpanStatus(code: .error))
                span.operationName = "renamed"
                span.end()
                #expect(span.attributes == ["before": 1])
                #expect(span.operationName == "step")
            }
            let spans = try await storedSpans(server, instanceID: instanceID)
            #expect(spans.count == 1)
            #expect(spans.first?.status == .complete)
            #expect(spans.first?.payload["attributes"] == ["before": 1])
            #expect(spans.first?.resultPayload == nil)
        }
    }

    @Test func aSpanGoesToItsContextsInstanceElseItsParentsElseTheTracers() async throws {
        try await withTestServer { server in
            _ = try await withTracedRun(server) { run in
                let other = try await run.client.createAgentInstance(agentVersion: ["name": "other"], agentSchemaVersion: [:])
                let tracer = PrefactorTracer(instance: run)
                tracer.withSpan("default") { _ in }
                await withAgentInstance(other) {
                    tracer.withSpan("bound") { _ in
                        tracer.withSpan("child of bound") { _ in }
                    }
                }
                let unbound = PrefactorTracer()
                unbound.withSpan("nowhere") { span in #expect(!span.isRecording) }
                await withAgentInstance(run) {
                    unbound.withSpan("bound without default") { span in #expect(span.isRecording) }
                }
                let mine = localSpans(run)
                let others = localSpans(other)
                #expect(Set(mine.keys) == ["default", "bound without default"])
                #expect(Set(others.keys) == ["bound", "child of bound"])
                #expect(others["child of bound"]?.parentID == others["bound"]?.id)
                #expect(run.client.snapshot().spans.count == 4, "the span without an instance is not recorded")
            }
        }
    }

    @Test func tracingSpansAndCoreSpansNestInEachOther() async throws {
        try await withTestServer { server in
            let (instanceID, _) = try await withTracedRun(server) { run in
                let tracer = PrefactorTracer(instance: run)
                try await run.span("agent:tool") { _ in
                    tracer.withSpan("inside core") { _ in }
                }
                try await tracer.withSpan("outside core") { span in
                    try await run.span("agent:llm", parentSpanID: span.prefactorSpanID()) { _ in }
                }
            }
            let spans = try await storedSpans(server, instanceID: instanceID)
            let tool = try #require(spans.first { $0.schemaName == "agent:tool" })
            let llm = try #require(spans.first { $0.schemaName == "agent:llm" })
            #expect(try span(named: "inside core", in: spans).parentSpanID == tool.id)
            #expect(llm.parentSpanID == (try span(named: "outside core", in: spans).id))
        }
    }

    @Test func theSpansContextGoesOutAsTraceparentAndNothingWithoutASpan() {
        let tracer = PrefactorTracer()
        var headers: [String: String] = [:]
        tracer.inject(.topLevel, into: &headers, using: Headers())
        #expect(headers.isEmpty)
        tracer.withSpan("call", ofKind: .client) { span in
            tracer.inject(span.context, into: &headers, using: Headers())
            let trace = span.context.prefactorTraceContext
            #expect(headers == ["traceparent": "00-\(trace?.traceID.description ?? "")-\(trace?.spanID.description ?? "")-01"])
        }
    }

    @Test func anIncomingTraceparentIsContinuedAndItsTracestateForwarded() async throws {
        let incoming = [
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": "vendor=value",
        ]
        try await withTestServer { server in
            _ = try await withTracedRun(server) { run in
                let tracer = PrefactorTracer(instance: run)
                var context = ServiceContext.topLevel
                tracer.extract(incoming, into: &context, using: Headers())
                #expect(context.prefactorTraceContext?.traceParentHeaderValue == incoming["traceparent"])
                var outgoing: [String: String] = [:]
                tracer.withSpan("handle", context: context, ofKind: .server) { span in
                    tracer.inject(span.context, into: &outgoing, using: Headers())
                }
                let handled = try #require(localSpans(run)["handle"])
                #expect(handled.parentID == nil, "the remote parent is no span of this process")
                #expect(
                    handled.payload["trace"]?.objectValue?["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
                        && handled.payload["trace"]?.objectValue?["parent_id"] == "00f067aa0ba902b7")
                #expect(outgoing["traceparent"]?.hasPrefix("00-4bf92f3577b34da6a3ce929d0e0e4736-") == true)
                #expect(outgoing["tracestate"] == "vendor=value")
            }
        }
    }

    @Test(arguments: ["", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"])
    func anInvalidTraceparentLeavesTheContextAlone(traceparent: String) {
        var context = ServiceContext.topLevel
        PrefactorTracer().extract(["traceparent": traceparent], into: &context, using: Headers())
        #expect(context.prefactorTraceContext == nil)
    }
}
