import Foundation
import PrefactorHTTP
import Testing

/// The pure retry policy (spec §5.4): `min(initial × multiplier^n × U(0.75, 1.25), max)`.
struct RetryPolicyTests {
    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    @Test func defaultsAreThePythonSDKs() {
        let policy = RetryPolicy()
        #expect(policy.maxRetries == 3)
        #expect(policy.initialDelay == .seconds(1))
        #expect(policy.maxDelay == .seconds(60))
        #expect(policy.multiplier == 2)
        #expect(policy.retryableStatuses == Set([429] + Array(500...599)))
        #expect(policy.retryableStatuses.contains(598), "conformance check 28")
        #expect(!policy.retryableStatuses.contains(428))
        #expect(!policy.retryableStatuses.contains(600))
        #expect(RetryPolicy.none.maxRetries == 0)
    }

    @Test(arguments: [
        // (retry, unit, expected seconds) for initial 1 s, multiplier 2, max 60 s.
        (0, 0.0, 0.75), (0, 1.0, 1.25), (0, 0.5, 1.0), (0, 0.25, 0.875),
        (1, 0.0, 1.5), (1, 1.0, 2.5), (2, 0.5, 4.0), (3, 1.0, 10.0), (4, 0.0, 12.0),
        (5, 0.0, 24.0), (5, 1.0, 40.0), (6, 0.0, 48.0), (6, 1.0, 60.0), (7, 0.0, 60.0), (20, 0.5, 60.0), (1000, 0.0, 60.0),
    ])
    func delayFormula(retry: Int, unit: Double, expected: Double) {
        let delay = RetryPolicy().delay(beforeRetry: retry, unit: unit)
        #expect(abs(Self.seconds(delay) - expected) < 1e-9)
    }

    @Test func firstDelayLiesInTheJitterBandAndNeverExceedsTheCap() {
        // Conformance check 26.
        for step in 0...100 {
            let unit = Double(step) / 100
            let first = Self.seconds(RetryPolicy().delay(beforeRetry: 0, unit: unit))
            #expect(first >= 0.75 && first <= 1.25)
            for retry in 0..<12 {
                #expect(RetryPolicy().delay(beforeRetry: retry, unit: unit) <= .seconds(60))
            }
        }
    }

    @Test func jitterIsAppliedBeforeTheCap() {
        // Python: min(base × jitter, max), so the cap is exact even at the top of the jitter band.
        let policy = RetryPolicy(initialDelay: .seconds(1), maxDelay: .seconds(1))
        #expect(policy.delay(beforeRetry: 0, unit: 1) == .seconds(1))
        #expect(abs(Self.seconds(policy.delay(beforeRetry: 0, unit: 0)) - 0.75) < 1e-9)
    }

    @Test func unitOutsideTheUnitIntervalIsClamped() {
        #expect(abs(Self.seconds(RetryPolicy().delay(beforeRetry: 0, unit: -3)) - 0.75) < 1e-9)
        #expect(abs(Self.seconds(RetryPolicy().delay(beforeRetry: 0, unit: 7)) - 1.25) < 1e-9)
    }

    @Test func multiplierOfOneKeepsTheDelayFlat() {
        let policy = RetryPolicy(initialDelay: .milliseconds(200), multiplier: 1)
        for retry in 0..<5 {
            #expect(abs(Self.seconds(policy.delay(beforeRetry: retry, unit: 0.5)) - 0.2) < 1e-9)
        }
    }

    @Test(arguments: [
        (PrefactorHTTPError(code: .transport, message: "m"), true),
        (PrefactorHTTPError(code: .timeout, message: "m"), true),
        (PrefactorHTTPError(code: .api, message: "m", status: 429), true),
        (PrefactorHTTPError(code: .api, message: "m", status: 500), true),
        (PrefactorHTTPError(code: .api, message: "m", status: 503), true),
        (PrefactorHTTPError(code: .api, message: "m", status: 599), true),
        (PrefactorHTTPError(code: .responseContract, message: "m", status: 503), true),
        (PrefactorHTTPError(code: .responseContract, message: "m", status: 200), false),
        (PrefactorHTTPError(code: .responseContract, message: "m"), false),
        (PrefactorHTTPError(code: .validation, message: "m", status: 400), false),
        (PrefactorHTTPError(code: .auth, message: "m", status: 401), false),
        (PrefactorHTTPError(code: .auth, message: "m", status: 403), false),
        (PrefactorHTTPError(code: .notFound, message: "m", status: 404), false),
        (PrefactorHTTPError(code: .conflict, message: "m", status: 409), false),
        (PrefactorHTTPError(code: .validation, message: "m", status: 422), false),
        (PrefactorHTTPError(code: .api, message: "m", status: 418), false),
        (PrefactorHTTPError(code: .invalidRequest, message: "m"), false),
        (PrefactorHTTPError(code: .configuration, message: "m"), false),
        (
            PrefactorHTTPError(
                code: .retriesExhausted, message: "m", status: 503,
                lastError: PrefactorHTTPError(code: .api, message: "m", status: 503)), false
        ),
    ])
    func shouldRetry(error: PrefactorHTTPError, expected: Bool) {
        #expect(RetryPolicy().shouldRetry(error) == expected)
    }

    @Test func shouldRetryHonoursTheStatusOverride() {
        let policy = RetryPolicy(retryableStatuses: [418, 503])
        #expect(policy.shouldRetry(PrefactorHTTPError(code: .api, message: "m", status: 418)))
        #expect(policy.shouldRetry(PrefactorHTTPError(code: .api, message: "m", status: 503)))
        #expect(!policy.shouldRetry(PrefactorHTTPError(code: .api, message: "m", status: 500)))
        #expect(!policy.shouldRetry(PrefactorHTTPError(code: .api, message: "m", status: 429)))
        #expect(policy.shouldRetry(PrefactorHTTPError(code: .transport, message: "m")), "network failures stay retryable")
        let none = RetryPolicy(retryableStatuses: [])
        #expect(!none.shouldRetry(PrefactorHTTPError(code: .api, message: "m", status: 503)))
    }

    @Test func durationSecondsHelper() {
        #expect(Duration.milliseconds(1500).seconds == 1.5)
        #expect(Duration.seconds(0).seconds == 0)
    }
}
