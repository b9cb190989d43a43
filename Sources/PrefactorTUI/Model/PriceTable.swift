/// LLM prices by model name, from the `prices` section of the config file. None are built in: a price the operator
/// did not give is unknown, and no cost is shown for that model.
public struct PriceTable: TokenPricing, Hashable {
    /// Prices by model name, as written in the config file (`gpt-4o-mini`, `claude-3-5-haiku-latest`...).
    public var models: [String: TokenPrice]

    /// Creates a table (empty: no prices known).
    public init(models: [String: TokenPrice] = [:]) {
        self.models = models
    }

    /// Whether no price is known.
    public var isEmpty: Bool { models.isEmpty }

    /// The price of a model: its own entry, else one whose name differs only in case, else the longest entry it
    /// starts with (`gpt-4o-mini-2024-07-18` takes the `gpt-4o-mini` price), as ``TokenPriceList`` does.
    public func price(forModel model: String) -> TokenPrice? {
        if let price = models[model] { return price }
        let lowered = model.lowercased()
        if let price = models.first(where: { $0.key.lowercased() == lowered })?.value { return price }
        return models.filter { lowered.hasPrefix($0.key.lowercased()) }.max { $0.key.count < $1.key.count }?.value
    }
}
