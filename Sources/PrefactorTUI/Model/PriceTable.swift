/// What one model's tokens cost, in the operator's currency per million tokens.
public struct ModelPrice: Sendable, Hashable {
    /// The price of a million input (prompt) tokens.
    public var inputPerMillion: Double
    /// The price of a million output (completion) tokens.
    public var outputPerMillion: Double

    /// Creates a price.
    public init(inputPerMillion: Double, outputPerMillion: Double) {
        self.inputPerMillion = inputPerMillion
        self.outputPerMillion = outputPerMillion
    }

    /// The cost of some tokens at this price.
    public func cost(inputTokens: Int, outputTokens: Int) -> Double {
        (Double(inputTokens) * inputPerMillion + Double(outputTokens) * outputPerMillion) / 1_000_000
    }
}

/// LLM prices by model name, from the `prices` section of the config file. None are built in: a price the operator
/// did not give is unknown, and no cost is shown for that model.
public struct PriceTable: Sendable, Hashable {
    /// Prices by model name, exactly as agents record it (`gpt-4o-mini`, `claude-3-5-haiku-latest`...).
    public var models: [String: ModelPrice]

    /// Creates a table (empty: no prices known).
    public init(models: [String: ModelPrice] = [:]) {
        self.models = models
    }

    /// Whether no price is known.
    public var isEmpty: Bool { models.isEmpty }

    /// The price of a model, when the table has one (names compare exactly, then ignoring case).
    public func price(for model: String) -> ModelPrice? {
        if let price = models[model] { return price }
        let lowered = model.lowercased()
        return models.first { $0.key.lowercased() == lowered }?.value
    }
}
