import Foundation

/// The price of a model's tokens, in dollars per million.
public struct TokenPrice: Sendable, Hashable {
    /// Dollars per million input (prompt) tokens.
    public var inputPerMillion: Double
    /// Dollars per million output (completion) tokens.
    public var outputPerMillion: Double

    /// Creates a price.
    public init(inputPerMillion: Double, outputPerMillion: Double) {
        self.inputPerMillion = inputPerMillion
        self.outputPerMillion = outputPerMillion
    }
}

/// Where the cost of LLM usage gets its prices: the price table of the configuration file conforms to it. No prices
/// are built in.
public protocol TokenPricing: Sendable {
    /// The price of a model's tokens, `nil` when it has none.
    func price(forModel model: String) -> TokenPrice?
}

/// Prices given as a dictionary (tests, and any caller without a configuration file): a model matches its own entry,
/// else the longest entry it starts with (`gpt-4o-mini-2024-07-18` takes the `gpt-4o-mini` price).
public struct TokenPriceList: TokenPricing, Hashable {
    /// Prices by model name.
    public var prices: [String: TokenPrice]

    /// Creates a list from `(input, output)` dollars per million tokens by model.
    public init(_ prices: [String: (input: Double, output: Double)]) {
        self.prices = prices.mapValues { TokenPrice(inputPerMillion: $0.input, outputPerMillion: $0.output) }
    }

    /// The price of a model: its own, else that of the longest prefix listed.
    public func price(forModel model: String) -> TokenPrice? {
        if let exact = prices[model] { return exact }
        return prices.filter { model.hasPrefix($0.key) }.max { $0.key.count < $1.key.count }?.value
    }
}
