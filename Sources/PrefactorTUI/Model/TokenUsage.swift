import Foundation
import PrefactorWire

/// The tokens an LLM call used, as an agent recorded them in a span's payload or result.
///
/// Recognised shapes (in the result first, then the payload):
/// - OpenAI: `usage.prompt_tokens`, `usage.completion_tokens`, `usage.total_tokens`;
/// - Anthropic: `usage.input_tokens`, `usage.output_tokens` (also at the top level);
/// - the LangChain integration (`prefactor-langchain`, and the TypeScript SDK's envelope): `token_usage.prompt_tokens`,
///   `token_usage.completion_tokens`, `token_usage.total_tokens`; LangChain's own `usage_metadata.input_tokens`,
///   `output_tokens`, `total_tokens`;
/// - OpenTelemetry's GenAI attributes (spans recorded through `PrefactorTracing`): `attributes["gen_ai.usage.input_tokens"]`,
///   `attributes["gen_ai.usage.output_tokens"]`;
/// - `prompt_tokens`, `completion_tokens`, `total_tokens` at the top level.
public struct TokenUsage: Sendable, Hashable {
    /// Prompt (input) tokens, when recorded.
    public var input: Int?
    /// Completion (output) tokens, when recorded.
    public var output: Int?
    /// The total as recorded, when it was.
    public var recordedTotal: Int?

    /// Creates a usage.
    public init(input: Int? = nil, output: Int? = nil, total: Int? = nil) {
        self.input = input
        self.output = output
        self.recordedTotal = total
    }

    /// The total: as recorded, else input plus output.
    public var total: Int { recordedTotal ?? ((input ?? 0) + (output ?? 0)) }

    /// Objects that hold token counts, by key, in the order they are looked for.
    static let containers = ["usage", "token_usage", "usage_metadata"]
    /// Names of the input count, in the order they are looked for.
    static let inputKeys = ["prompt_tokens", "input_tokens", "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"]
    /// Names of the output count.
    static let outputKeys = [
        "completion_tokens", "output_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
    ]
    /// Names of the total.
    static let totalKeys = ["total_tokens", "gen_ai.usage.total_tokens"]

    /// The usage a span recorded: its result first (where a call's outcome goes), then its payload (where the
    /// TypeScript SDK's envelope puts it); `nil` when neither has any.
    public static func of(payload: [String: JSONValue], result: [String: JSONValue]?) -> TokenUsage? {
        result.flatMap(find) ?? find(payload)
    }

    /// The usage in one object: in a usage container, in its `attributes`, or at its top level.
    static func find(_ object: [String: JSONValue]) -> TokenUsage? {
        for key in containers {
            if let inner = object[key]?.objectValue, let usage = counts(inner) { return usage }
        }
        if let attributes = object["attributes"]?.objectValue, let usage = counts(attributes) { return usage }
        return counts(object)
    }

    /// The counts in an object that holds them directly; `nil` when it holds none.
    static func counts(_ object: [String: JSONValue]) -> TokenUsage? {
        func first(_ keys: [String]) -> Int? {
            for key in keys {
                if let value = object[key]?.intValue, value >= 0 { return Int(clamping: value) }
            }
            return nil
        }
        let usage = TokenUsage(input: first(inputKeys), output: first(outputKeys), total: first(totalKeys))
        return usage.input == nil && usage.output == nil && usage.recordedTotal == nil ? nil : usage
    }
}

/// The model an LLM span names, when its payload (or result) carries one.
public enum ModelName {
    /// Keys naming the model, in the order they are looked for: the SDKs' `model`, the LangChain integration's
    /// `model_name`, OpenTelemetry's GenAI attributes.
    static let keys = ["model", "model_name", "gen_ai.request.model", "gen_ai.response.model"]

    /// The model named by a span's payload, else its result (a response names the model that answered).
    public static func of(payload: [String: JSONValue], result: [String: JSONValue]?) -> String? {
        for object in [payload, payload["attributes"]?.objectValue, result, result?["attributes"]?.objectValue] {
            guard let object else { continue }
            for key in keys {
                if let name = object[key]?.stringValue, !name.isEmpty { return name }
            }
        }
        return nil
    }
}

/// Tokens added up over spans, in all and by model (for the cost).
public struct UsageTotals: Sendable, Hashable {
    /// Input tokens (of the spans that recorded them).
    public var input = 0
    /// Output tokens.
    public var output = 0
    /// Total tokens.
    public var total = 0
    /// Spans that recorded a usage.
    public var calls = 0
    /// The same by model name (`""` when the span named none).
    public var byModel: [String: ModelTokens] = [:]

    /// Tokens of one model.
    public struct ModelTokens: Sendable, Hashable {
        /// Input tokens.
        public var input = 0
        /// Output tokens.
        public var output = 0
        /// Total tokens.
        public var total = 0
        /// Tokens counted only as a total (no split into input and output): a price cannot be applied to them.
        public var unsplit = 0
    }

    /// No tokens.
    public init() {}

    /// Whether no span recorded a usage.
    public var isEmpty: Bool { calls == 0 }

    /// Adds (`sign` 1) or removes (`sign` -1) one span's usage.
    public mutating func add(_ usage: TokenUsage, model: String?, sign: Int = 1) {
        input += sign * (usage.input ?? 0)
        output += sign * (usage.output ?? 0)
        total += sign * usage.total
        calls += sign
        let key = model ?? ""
        var tokens = byModel[key] ?? ModelTokens()
        tokens.input += sign * (usage.input ?? 0)
        tokens.output += sign * (usage.output ?? 0)
        tokens.total += sign * usage.total
        if usage.input == nil && usage.output == nil { tokens.unsplit += sign * usage.total }
        byModel[key] = tokens.total == 0 && tokens.input == 0 && tokens.output == 0 ? nil : tokens
    }

    /// Adds other totals.
    public mutating func add(_ other: UsageTotals) {
        input += other.input
        output += other.output
        total += other.total
        calls += other.calls
        for (model, tokens) in other.byModel {
            var mine = byModel[model] ?? ModelTokens()
            mine.input += tokens.input
            mine.output += tokens.output
            mine.total += tokens.total
            mine.unsplit += tokens.unsplit
            byModel[model] = mine
        }
    }

    /// What the tokens cost with a price table: the priced part, and the tokens that have no price (their model is not
    /// in the table, or only their total is known). `nil` without a table or when nothing has a price.
    public func cost(_ pricing: (any TokenPricing)?) -> (dollars: Double, unpriced: Int)? {
        guard let pricing else { return nil }
        var dollars = 0.0
        var unpriced = 0
        var priced = false
        for (model, tokens) in byModel {
            guard !model.isEmpty, let price = pricing.price(forModel: model) else {
                unpriced += tokens.total
                continue
            }
            priced = true
            dollars += Double(tokens.input) * price.inputPerMillion / 1_000_000
            dollars += Double(tokens.output) * price.outputPerMillion / 1_000_000
            unpriced += tokens.unsplit
        }
        return priced ? (dollars, unpriced) : nil
    }
}

extension TokenUsage {
    /// A token count in a few columns: `412`, `1.2k`, `35k`, `1.2M`.
    public static func short(_ count: Int) -> String {
        let value = Double(count)
        if count < 1000 { return "\(count)" }
        if count < 10_000 { return String(format: "%.1fk", value / 1000) }
        if count < 1_000_000 { return "\(count / 1000)k" }
        return String(format: "%.1fM", value / 1_000_000)
    }

    /// Dollars with the precision small amounts need: `$0.0042`, `$0.13`, `$12.40`.
    public static func dollars(_ amount: Double) -> String {
        if amount > 0 && amount < 0.01 { return String(format: "$%.4f", amount) }
        return String(format: "$%.2f", amount)
    }
}
