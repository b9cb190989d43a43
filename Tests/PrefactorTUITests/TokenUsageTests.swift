import Foundation
import PrefactorCore
import PrefactorTUI
import PrefactorWire
import Testing

/// A run of an agent of this process with LLM calls that record their usage in each shape agents use, a tool call
/// with a retrieval under it, a running call and a prepared step; a second, finished run. The clock ends at `t0 + 12`.
func usageModel() -> AppModel {
    var model = emptyModel()
    model.pricing = TokenPriceList(["gpt-4o": (input: 2.5, output: 10), "claude-sonnet-4": (input: 3, output: 15)])
    let run = "inst_usage_0001"
    var registered = instance(run, .registered, started: nil)
    registered.agentName = "support-bot"
    registered.agentVersion = "support-bot-1.4.0"
    model.apply(at: 0, [.instanceRegistered(registered)])
    var started = registered
    started.phase = .active
    started.startedAt = at(0)
    model.apply(at: 0, [.instanceStarted(started)])
    model.apply(
        at: 0.5,
        [.spanStarted(span("sp-plan", in: run, "agent:plan", .active, payload: ["goal": "Refund order #48213"], started: 0.5))])
    model.apply(
        at: 3.5,
        [
            .spanFinished(
                span(
                    "sp-llm1", in: run, parent: "sp-plan", "llm:chat", .complete,
                    payload: ["model": "gpt-4o", "prompt": "Plan the refund"],
                    result: ["response": "Three steps.", "usage": ["prompt_tokens": 1200, "completion_tokens": 350]],
                    started: 1, finished: 3.5))
        ])
    model.apply(
        at: 6,
        [
            .spanFinished(
                span(
                    "sp-tool", in: run, parent: "sp-plan", "tool:call", .complete, payload: ["tool": "web_search"], started: 4,
                    finished: 6)),
            .spanFinished(
                span(
                    "sp-search", in: run, parent: "sp-tool", "retrieval:search", .complete, payload: ["query": "refund policy"],
                    started: 4.5, finished: 5.5)),
        ])
    model.apply(
        at: 8,
        [
            .spanFinished(
                span(
                    "sp-llm2", in: run, parent: "sp-plan", "langchain:llm", .failed,
                    payload: ["model_name": "claude-sonnet-4", "provider": "anthropic"],
                    result: [
                        "token_usage": ["prompt_tokens": 800, "completion_tokens": 40, "total_tokens": 840],
                        "error": ["error_type": "RateLimitError", "message": "429"],
                    ], started: 6.5, finished: 8))
        ])
    model.apply(
        at: 9,
        [
            .spanStarted(
                span("sp-llm3", in: run, parent: "sp-plan", "llm:chat", .active, payload: ["model": "gpt-4o-mini"], started: 9)),
            .spanPrepared(span("sp-step", in: run, parent: "sp-plan", "agent:step", .prepared, prepared: 9)),
        ])
    let other = "inst_other_0002"
    model.apply(at: 10, [.instanceStarted(instance(other, started: 2))])
    model.apply(
        at: 11,
        [
            .spanFinished(
                span(
                    "sp-haiku", in: other, "llm:chat", .complete, payload: ["model": "claude-haiku"],
                    result: ["usage": ["input_tokens": 300, "output_tokens": 120]], started: 2.5, finished: 4.5)),
            .instanceFinished(instance(other, .complete, started: 2, finished: 5)),
        ])
    model.tick(at(12))
    return model
}

@Suite("LLM usage: extraction")
struct TokenUsageExtractionTests {
    typealias Shape = ([String: JSONValue], [String: JSONValue]?, TokenUsage)

    static let shapes: [Shape] = [
        // OpenAI chat completions.
        (
            [:], ["usage": ["prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15]],
            TokenUsage(input: 10, output: 5, total: 15)
        ),
        // Anthropic messages, under usage and at the top level.
        ([:], ["usage": ["input_tokens": 7, "output_tokens": 3]], TokenUsage(input: 7, output: 3)),
        ([:], ["input_tokens": 7, "output_tokens": 3], TokenUsage(input: 7, output: 3)),
        // The LangChain integration's result, and the TypeScript SDK's envelope in the payload.
        (
            [:], ["token_usage": ["prompt_tokens": 20, "completion_tokens": 4, "total_tokens": 24]],
            TokenUsage(input: 20, output: 4, total: 24)
        ),
        (
            ["token_usage": ["prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3]], nil,
            TokenUsage(input: 2, output: 1, total: 3)
        ),
        // LangChain's usage_metadata.
        (
            [:], ["usage_metadata": ["input_tokens": 9, "output_tokens": 1, "total_tokens": 10]],
            TokenUsage(input: 9, output: 1, total: 10)
        ),
        // OpenTelemetry GenAI attributes (spans of PrefactorTracing).
        (
            ["attributes": ["gen_ai.usage.input_tokens": 11]], ["attributes": ["gen_ai.usage.output_tokens": 6]],
            TokenUsage(output: 6)
        ),
        (
            ["attributes": ["gen_ai.usage.input_tokens": 11, "gen_ai.usage.output_tokens": 6]], nil,
            TokenUsage(input: 11, output: 6)
        ),
        // A total alone.
        ([:], ["total_tokens": 99], TokenUsage(total: 99)),
        (["usage": ["total_tokens": 42]], [:], TokenUsage(total: 42)),
    ]

    @Test(arguments: shapes)
    func recognisedShapes(payload: [String: JSONValue], result: [String: JSONValue]?, expected: TokenUsage) {
        #expect(TokenUsage.of(payload: payload, result: result) == expected)
    }

    @Test func theResultWinsOverThePayload() {
        let usage = TokenUsage.of(
            payload: ["token_usage": ["prompt_tokens": 1, "completion_tokens": 1]],
            result: ["usage": ["prompt_tokens": 5, "completion_tokens": 6]])
        #expect(usage == TokenUsage(input: 5, output: 6))
        #expect(usage?.total == 11)
    }

    @Test(
        arguments: [
            [:], ["tokens": 412], ["usage": "lots"], ["token_usage": .null],
            ["usage": ["prompt_tokens": "12"]],
            ["usage": ["prompt_tokens": -3]],
        ] as [[String: JSONValue]])
    func notUsage(result: [String: JSONValue]) {
        #expect(TokenUsage.of(payload: [:], result: result) == nil)
    }

    static let models: [([String: JSONValue], [String: JSONValue]?, String?)] = [
        (["model": "gpt-4o"], nil, "gpt-4o"),
        (["model_name": "claude-sonnet-4", "provider": "anthropic"], nil, "claude-sonnet-4"),
        (["attributes": ["gen_ai.request.model": "llama-3.1-70b"]], nil, "llama-3.1-70b"),
        ([:], ["model": "gpt-4o-2024-08-06"], "gpt-4o-2024-08-06"),
        (["model": ""], nil, nil),
        (["tool": "web_search"], ["output": "x"], nil),
    ]

    @Test(arguments: models)
    func modelNames(payload: [String: JSONValue], result: [String: JSONValue]?, expected: String?) {
        #expect(ModelName.of(payload: payload, result: result) == expected)
    }

    @Test(arguments: [(0, "0"), (412, "412"), (1234, "1.2k"), (35_400, "35k"), (1_250_000, "1.2M")])
    func shortCounts(count: Int, text: String) {
        #expect(TokenUsage.short(count) == text)
    }

    @Test func pricesMatchTheLongestPrefix() {
        let prices = TokenPriceList(["gpt-4o": (input: 2.5, output: 10), "gpt-4o-mini": (input: 0.15, output: 0.6)])
        #expect(prices.price(forModel: "gpt-4o-mini-2024-07-18")?.inputPerMillion == 0.15)
        #expect(prices.price(forModel: "gpt-4o-2024-08-06")?.outputPerMillion == 10)
        #expect(prices.price(forModel: "claude-haiku") == nil)
    }
}

@Suite("LLM usage: roll-ups and cost")
struct TokenUsageRollUpTests {
    @Test func spansRollUpByRunAndInTheTree() throws {
        let model = usageModel()
        let run = try #require(model.tree.instanceUsage["inst_usage_0001"])
        #expect(run.total == 1550 + 840)
        #expect(run.input == 2000)
        #expect(run.output == 390)
        #expect(run.calls == 2)
        #expect(run.byModel["gpt-4o"]?.total == 1550)
        #expect(run.byModel["claude-sonnet-4"]?.total == 840)
        #expect(model.tree.instanceUsage["inst_other_0002"]?.total == 420)
        #expect(model.tree.totalUsage.total == 1550 + 840 + 420)
        #expect(model.tree.totalUsage.calls == 3)
    }

    @Test func costComesFromThePriceTableOnly() throws {
        let model = usageModel()
        let run = try #require(model.tree.instanceUsage["inst_usage_0001"])
        let cost = try #require(run.cost(model.pricing))
        // gpt-4o: 1200 × 2.5 + 350 × 10; claude-sonnet-4: 800 × 3 + 40 × 15 (dollars per million).
        #expect(abs(cost.dollars - (3000 + 3500 + 2400 + 600) / 1_000_000) < 1e-12)
        #expect(cost.unpriced == 0)
        // No table, or no price for the model: no cost, and the tokens are said to be without a price.
        #expect(run.cost(nil) == nil)
        let other = try #require(model.tree.instanceUsage["inst_other_0002"])
        #expect(other.cost(model.pricing) == nil)
        let all = try #require(model.tree.totalUsage.cost(model.pricing))
        #expect(all.unpriced == 420)
    }

    @Test func aTotalWithoutSplitHasNoPrice() throws {
        var totals = UsageTotals()
        totals.add(TokenUsage(total: 500), model: "gpt-4o")
        totals.add(TokenUsage(input: 100, output: 0), model: "gpt-4o")
        let cost = try #require(totals.cost(TokenPriceList(["gpt-4o": (input: 10, output: 10)])))
        #expect(abs(cost.dollars - 0.001) < 1e-12)
        #expect(cost.unpriced == 500)
    }

    @Test func aChangedOrRemovedSpanLeavesTheTotals() {
        var model = usageModel()
        // The running call finishes with its usage: counted once, even when reported twice.
        let done = span(
            "sp-llm3", in: "inst_usage_0001", parent: "sp-plan", "llm:chat", .complete, payload: ["model": "gpt-4o-mini"],
            result: ["usage": ["prompt_tokens": 100, "completion_tokens": 10]], started: 9, finished: 12)
        model.apply(at: 12, [.spanFinished(done), .spanFinished(done)])
        #expect(model.tree.instanceUsage["inst_usage_0001"]?.total == 1550 + 840 + 110)
        #expect(model.tree.totalUsage.calls == 4)
        // Its usage corrected: the old count goes, the new one comes.
        var corrected = done
        corrected.resultPayload = ["usage": ["prompt_tokens": 100, "completion_tokens": 20]]
        model.apply(at: 12, [.spanFinished(corrected)])
        #expect(model.tree.instanceUsage["inst_usage_0001"]?.total == 1550 + 840 + 120)
        #expect(model.tree.totalUsage.calls == 4)
        // A run removed (aged out of view): its usage leaves the header's total.
        model.tree.removeInstance("inst_other_0002")
        #expect(model.tree.instanceUsage["inst_other_0002"] == nil)
        #expect(model.tree.totalUsage.total == 1550 + 840 + 120)
    }

    @Test func rowsDetailAndHeaderShowTheUsage() {
        var model = usageModel()
        model.selection = .span("sp-llm1")
        let text = model.frame(160, 40).plainText()
        #expect(text.contains("llm:chat gpt-4o 1.6k tok"))
        #expect(text.contains("langchain:llm claude-sonnet-4 840 tok"))
        #expect(text.contains("tokens   in 1200 · out 350 · total 1550"))
        #expect(text.contains("model    gpt-4o"))
        #expect(text.contains("cost     $0.0065"))
        // The run's roll-up and the header's total.
        #expect(text.contains("Σ2.4k tok $0.0095"))
        #expect(lines(model.frame(160, 40))[0].contains("Σ2.8k tok $0.0095"))
        model.selection = .instance("inst_usage_0001")
        let run = model.frame(160, 40).plainText()
        #expect(run.contains("tokens   in 2000 · out 390 · total 2390 · in 2 calls"))
    }
}

@Suite("Agent names of local runs")
struct LocalAgentNameTests {
    @Test func localRunsShowTheirAgentNameAndVersion() {
        var model = usageModel()
        model.selection = .instance("inst_usage_0001")
        let text = model.frame(160, 40).plainText()
        #expect(text.contains("run inst_u…e_0001 support-bot 1.4.0"))
        #expect(text.contains("name     support-bot"))
        #expect(text.contains("version  support-bot-1.4.0"))
    }

    @Test(arguments: [
        ("support-bot", "support-bot-1.4.0", "support-bot 1.4.0"), ("operator", "operator-console", "operator console"),
        ("agent", "v2", "agent v2"), ("agent", nil, "agent"), ("agent", "agent", "agent"),
    ])
    func agentLabels(name: String, version: String?, label: String) {
        var snapshot = instance("inst")
        snapshot.agentName = name
        snapshot.agentVersion = version
        #expect(Layout.agentLabel(snapshot) == label)
    }

    /// A client that left a span's payload in its queue file sends later snapshots without it: the tree keeps what an
    /// earlier event showed, so the payload and the token usage stay on screen.
    @Test func aPayloadLeftInTheQueueFileStaysOnScreen() {
        var tree = TraceTree()
        tree.upsert(instance("inst"), at: t0)
        let full = span(
            "span-1", in: "inst", "llm:chat", .complete, payload: ["model": "gpt-4o"],
            result: ["usage": ["total_tokens": 42]], started: 0, finished: 1)
        tree.upsert(full, at: t0)
        var stripped = span("span-1", in: "inst", "llm:chat", .complete, apiID: "api-1", started: 0, finished: 1)
        stripped.payloadInQueueFile = true
        tree.upsert(stripped, at: at(2))
        #expect(tree.spans["span-1"]?.span.payload == ["model": "gpt-4o"])
        #expect(tree.spans["span-1"]?.span.resultPayload == ["usage": ["total_tokens": 42]])
        #expect(tree.spans["span-1"]?.span.apiID == "api-1")
        #expect(tree.spanUsage["span-1"]?.usage.total == 42)
        // Without the mark, an empty payload is the truth and replaces the old one.
        stripped.payloadInQueueFile = false
        tree.upsert(stripped, at: at(3))
        #expect(tree.spans["span-1"]?.span.payload == [:])
    }
}
