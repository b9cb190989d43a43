import Foundation
import PrefactorCore
import PrefactorWire
import Synchronization

/// A built-in agent that looks like real work: several concurrent runs of three kinds of agent, each with nested LLM,
/// tool and retrieval spans three or four levels deep, realistic payloads, durations from a fraction of a second to
/// several seconds, occasional failures and cancellations, and quality records. It uses the real core client.
///
/// A run an operator terminates stops at once: its open spans are cancelled (the reason in their result) and it
/// starts nothing more. ``stop()`` does the same for every run in progress and finishes them as cancelled, so that
/// a demo that quits leaves nothing active on the API. Both are told on ``notices``.
public final class DemoAgent: Sendable {
    private let client: PrefactorClient
    private let paused = Mutex(false)
    private let stopping = Mutex(false)
    private let (noticeStream, noticeContinuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(64))
    private let concurrency: Int
    private let speed: Double
    private let seed = Mutex(SplitMix(seed: UInt64(Date().timeIntervalSince1970 * 1000)))

    /// The span types and quality schema the demo registers.
    public static var schemaRegistry: SchemaRegistry {
        var registry = SchemaRegistry()
        let object: [String: JSONValue] = ["type": "object"]
        try? registry.registerType(name: "agent:plan", paramsSchema: object, title: "Plan", template: "{{goal}}")
        try? registry.registerType(
            name: "llm:chat", paramsSchema: object, resultSchema: object, title: "LLM call", template: "{{model}}: {{prompt}}")
        try? registry.registerType(
            name: "tool:call", paramsSchema: object, title: "Tool call", template: "{{tool}}({{arguments}})")
        try? registry.registerType(name: "retrieval:search", paramsSchema: object, title: "Retrieval", template: "{{query}}")
        try? registry.registerType(name: "agent:step", paramsSchema: object, title: "Step")
        try? registry.registerQualitySchema(
            name: "helpfulness", schema: ["type": "object", "properties": ["score": ["type": "number"]]], title: "Helpfulness",
            template: "{{score}}")
        return registry
    }

    /// Creates a demo agent.
    ///
    /// - Parameters:
    ///   - client: A running core client (its configuration should carry ``schemaRegistry``).
    ///   - concurrency: Runs in flight at once.
    ///   - speed: Time factor: 2 runs twice as fast.
    public init(client: PrefactorClient, concurrency: Int = 3, speed: Double = 1) {
        self.client = client
        self.concurrency = max(1, concurrency)
        self.speed = max(0.01, speed)
    }

    /// Whether the demo is paused.
    public var isPaused: Bool { paused.withLock { $0 } }

    /// What the demo did that its user should know (a run stopped after its termination, runs cancelled on stop).
    public var notices: AsyncStream<String> { noticeStream }

    /// Stops the demo: every run in progress cancels its open spans and finishes as cancelled; ``run()`` returns
    /// once they have. Nothing new starts.
    public func stop() {
        stopping.withLock { $0 = true }
    }

    /// Stops the demo and waits until every run in progress has been wound down (at once when ``run()`` is not
    /// running).
    public func stopAndWait() async {
        stop()
        let ended = self.ended
        guard running.withLock({ $0 }) else { return }
        for await _ in ended {}
    }

    private let running = Mutex(false)
    private let (ended, endedContinuation) = AsyncStream<Void>.makeStream()

    /// Whether ``stop()`` was called.
    public var isStopping: Bool { stopping.withLock { $0 } }

    /// Why a run stops early.
    private struct Interrupted: Error {
        /// The run was terminated by an operator (otherwise the demo stops).
        var terminated: Bool
        var reason: String
    }

    /// Throws when the run must stop: an operator terminated it, or the demo stops.
    private func check(_ run: AgentInstanceHandle) throws {
        if run.isTerminated {
            throw Interrupted(
                terminated: true, reason: "run terminated by an operator" + (run.terminationReason.map { ": \($0)" } ?? ""))
        }
        if isStopping { throw Interrupted(terminated: false, reason: "the demo agent stopped") }
    }

    /// A span whose body stops as soon as the run must: the span is then cancelled, with the reason in its result.
    private func span(
        _ run: AgentInstanceHandle, _ name: String, payload: [String: JSONValue], _ body: (SpanContext) async throws -> Void
    ) async throws {
        try check(run)
        try await run.span(name, payload: payload) { span in
            do {
                try await body(span)
            } catch let interrupted as Interrupted {
                span.setResult(["cancelled_because": .string(interrupted.reason)])
                try? await span.cancel()
                throw interrupted
            }
        }
    }

    /// Pauses or resumes the demo; returns whether it is now paused.
    @discardableResult
    public func togglePause() -> Bool {
        paused.withLock { paused in
            paused.toggle()
            return paused
        }
    }

    /// Runs until cancelled or stopped, keeping `concurrency` agent runs going.
    public func run() async {
        running.withLock { $0 = true }
        defer {
            running.withLock { $0 = false }
            endedContinuation.finish()
        }
        await withTaskGroup(of: Void.self) { group in
            for lane in 0..<concurrency {
                group.addTask {
                    var index = lane
                    while !Task.isCancelled && !self.isStopping {
                        await self.oneRun(kind: index % 3)
                        index += self.concurrency
                        await self.pause(seconds: 0.5)
                    }
                }
            }
        }
    }

    // MARK: Pieces

    private func random() -> Double { seed.withLock { $0.nextDouble() } }

    private func pick<T>(_ items: [T]) -> T { items[min(items.count - 1, Int(random() * Double(items.count)))] }

    /// Sleeps, counting only unpaused time; returns early when cancelled.
    private func pause(seconds: Double) async {
        var remaining = seconds / speed
        while remaining > 0 && !Task.isCancelled {
            let step = min(remaining, 0.1)
            do { try await Task.sleep(for: .milliseconds(Int(step * 1000))) } catch { return }
            if !isPaused { remaining -= step }
        }
    }

    /// Works for a while, checking every step whether the run must stop.
    private func work(_ run: AgentInstanceHandle, _ low: Double, _ high: Double) async throws {
        var remaining = (low + random() * (high - low)) / speed
        while remaining > 0 {
            try check(run)
            let step = min(remaining, 0.05)
            do { try await Task.sleep(for: .milliseconds(Int(step * 1000))) } catch {
                throw Interrupted(terminated: false, reason: "the demo agent stopped")
            }
            if !isPaused { remaining -= step }
        }
        try check(run)
    }

    private struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private func oneRun(kind: Int) async {
        let (agent, goals): (String, [String]) = [
            ("support-bot", ["Refund order #48213", "Reset a customer's 2FA", "Explain the invoice for March"]),
            (
                "research-agent",
                [
                    "Summarise recent work on retrieval-augmented generation", "Compare vector databases",
                    "Find the 2024 GDP of Chile",
                ]
            ),
            (
                "code-reviewer",
                [
                    "Review PR #912: add retry to the HTTP client", "Review PR #915: fix flaky test",
                    "Review PR #920: upgrade GRDB",
                ]
            ),
        ][kind % 3]
        let goal = pick(goals)
        var started: AgentInstanceHandle?
        do {
            let run = try await client.createAgentInstance(
                agentVersion: [
                    "name": .string(agent), "external_identifier": .string("\(agent)-1.4.0"), "description": "Demo agent",
                ],
                agentSchemaVersion: nil)
            try await run.start()
            started = run
            var status = FinishStatus.complete
            do {
                try await span(run, "agent:plan", payload: ["goal": .string(goal), "agent": .string(agent)]) { plan in
                    try await plan.start()
                    try await llm(run, prompt: "Plan the steps to: \(goal)", tokens: 300...900)
                    let steps = 2 + Int(random() * 3)
                    for step in 1...steps {
                        try await span(run, "agent:step", payload: ["step": .int(Int64(step)), "of": .int(Int64(steps))]) {
                            span in
                            try await span.start()
                            try await stepWork(run)
                            try await span.complete(["done": true])
                        }
                    }
                    try await llm(run, prompt: "Write the final answer for: \(goal)", tokens: 200...600)
                    try await plan.complete(["answer": .string("Done: \(goal)")])
                }
            } catch is Failure {
                status = .failed
            }
            try check(run)
            try await run.recordQuality(name: "helpfulness", payload: ["score": .double((random() * 100).rounded() / 100)])
            try check(run)
            try await run.finish(status: status)
        } catch let interrupted as Interrupted {
            guard let run = started else { return }
            if interrupted.terminated {
                noticeContinuation.yield("run \(run.id) was terminated by an operator; stopped it (open spans cancelled)")
            } else {
                try? await run.finish(status: .cancelled)
                noticeContinuation.yield("run \(run.id) cancelled: \(interrupted.reason)")
            }
        } catch {
            // The client is shutting down, or the API refused: try again after a while.
            await pause(seconds: 2)
        }
    }

    private func stepWork(_ run: AgentInstanceHandle) async throws {
        let choice = random()
        if choice < 0.4 {
            try await retrieval(run)
            try await llm(run, prompt: "Answer using the retrieved passages", tokens: 400...1200)
        } else if choice < 0.8 {
            try await tool(run)
        } else {
            try await llm(run, prompt: "Think about the next step", tokens: 100...400)
        }
    }

    private func llm(_ run: AgentInstanceHandle, prompt: String, tokens: ClosedRange<Int>) async throws {
        let model = pick(["gpt-4o", "claude-sonnet-4", "llama-3.1-70b"])
        try await span(run, "llm:chat", payload: ["model": .string(model), "prompt": .string(prompt), "temperature": 0.2]) {
            span in
            try await span.start()
            try await work(run, 0.3, 3.5)
            if random() < 0.07 {
                try await span.fail(["error": "rate_limit_exceeded", "message": "429 from the model provider"])
                throw Failure(description: "the model call failed")
            }
            let completion = Int64(tokens.lowerBound + Int(random() * Double(tokens.count)))
            try await span.complete([
                "response": .string("(\(completion) tokens about: \(prompt.prefix(40)))"),
                "usage": ["prompt_tokens": .int(Int64(prompt.count * 3)), "completion_tokens": .int(completion)],
            ])
        }
    }

    private func tool(_ run: AgentInstanceHandle) async throws {
        let (tool, arguments): (String, JSONValue) = pick([
            ("web_search", ["query": "latest release notes"]),
            ("sql_query", ["sql": "SELECT count(*) FROM orders WHERE status = 'open'"]),
            ("http_get", ["url": "https://api.example.com/v1/status"]), ("python", ["code": "sum(range(10))"]),
        ])
        try await span(run, "tool:call", payload: ["tool": .string(tool), "arguments": arguments]) { span in
            if random() < 0.05 {
                try await span.cancel()  // decided against the call before starting it
                return
            }
            try await span.start()
            try await work(run, 0.2, 2.0)
            if tool == "web_search" { try await retrieval(run) }
            if random() < 0.06 {
                try await span.cancel()
                return
            }
            if random() < 0.06 {
                try await span.fail(["error": "timeout", "message": .string("\(tool) did not answer within 30 s")])
                return
            }
            try await span.complete(["output": .string("\(tool) returned \(Int(random() * 100)) rows")])
        }
    }

    private func retrieval(_ run: AgentInstanceHandle) async throws {
        try await span(
            run, "retrieval:search",
            payload: ["query": .string(pick(["refund policy", "2FA reset", "GRDB upgrade notes", "vector index"])), "top_k": 5]
        ) { span in
            try await span.start()
            try await work(run, 0.1, 1.2)
            try await span.complete(["documents": .int(Int64(1 + Int(random() * 5)))])
        }
    }
}

/// A small deterministic random generator.
struct SplitMix: Sendable {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func nextDouble() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
