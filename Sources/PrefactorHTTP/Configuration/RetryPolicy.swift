/// When and how long to wait before retrying a transient failure (spec §5.4).
///
/// The delay before retry *n* (0-based) is `min(initial × multiplier^n × U(0.75, 1.25), max)`, as the official
/// Python SDK computes it.
public struct RetryPolicy: Sendable, Hashable {
    /// Retries after the first attempt; `maxRetries + 1` attempts in all.
    public var maxRetries: Int
    /// The base delay of the first retry.
    public var initialDelay: Duration
    /// The longest delay.
    public var maxDelay: Duration
    /// The growth factor between retries.
    public var multiplier: Double
    /// HTTP statuses that are retried; the default is 429 and 500–599.
    public var retryableStatuses: Set<Int>

    /// The default retryable statuses: 429 and every 5xx.
    public static let defaultRetryableStatuses: Set<Int> = Set([429] + Array(500...599))

    /// Creates a policy; the defaults are the official SDKs' (3 retries, 1 s, 60 s, ×2).
    public init(
        maxRetries: Int = 3, initialDelay: Duration = .seconds(1), maxDelay: Duration = .seconds(60),
        multiplier: Double = 2.0, retryableStatuses: Set<Int> = RetryPolicy.defaultRetryableStatuses
    ) {
        self.maxRetries = maxRetries
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.multiplier = multiplier
        self.retryableStatuses = retryableStatuses
    }

    /// No retries.
    public static let none = RetryPolicy(maxRetries: 0)

    /// The delay before retry `retry` (0-based).
    ///
    /// - Parameters:
    ///   - retry: 0 for the first retry.
    ///   - unit: A uniform random number in `[0, 1)`; it becomes the jitter factor `0.75 + unit / 2`.
    /// - Returns: The delay.
    public func delay(beforeRetry retry: Int, unit: Double) -> Duration {
        let base = initialDelay.seconds * Self.power(multiplier, retry)
        let jittered = base * (0.75 + min(max(unit, 0), 1) * 0.5)
        return .seconds(min(jittered, maxDelay.seconds))
    }

    /// Whether an error is worth another attempt under this policy.
    ///
    /// - Parameter error: The failure of an attempt.
    /// - Returns: `true` for network failures, timeouts and the retryable statuses.
    public func shouldRetry(_ error: PrefactorHTTPError) -> Bool {
        switch error.code {
        case .transport, .timeout: return true
        case .invalidRequest, .configuration, .retriesExhausted: return false
        default:
            guard let status = error.status else { return false }
            return retryableStatuses.contains(status)
        }
    }

    private static func power(_ base: Double, _ exponent: Int) -> Double {
        var result = 1.0
        for _ in 0..<max(0, min(exponent, 1000)) {
            result *= base
            if result > 1e12 { break }
        }
        return result
    }
}

extension Duration {
    /// The duration in seconds as a `Double`.
    public var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
