import Foundation
import Metrics
import MetricsTestKit
import PrefactorCore
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

@testable import PrefactorMetrics

/// The queue's metrics, read through swift-metrics' test backend while a client delivers to the real server with one
/// retried and one refused request.
@Suite(.timeLimit(.minutes(1)))
struct QueueMetricsTests {
    @Test func theQueueIsMeasuredWhileAClientDelivers() async throws {
        let faults = [
            FaultRule(method: "POST", path: "/api/v1/agent_spans", status: 503, count: 1),
            FaultRule(method: "POST", path: "/api/v1/agent_instance/*/record_quality", status: 400, count: 1),
        ]
        try await withTestServer(faults: faults) { server in
            var api = APIClient.Configuration(apiURL: server.baseURL, apiToken: server.token)
            api.retryPolicy = RetryPolicy(maxRetries: 0, initialDelay: .milliseconds(2), maxDelay: .milliseconds(20))
            let client = try PrefactorClient(configuration: .init(api: api, drainTimeout: .seconds(60)))
            let metrics = TestMetrics()
            let measuring = Task {
                await PrefactorQueueMetrics(client: client, dimensions: [("agent", "a")], factory: metrics).run()
            }
            let running = Task { try await client.run() }
            // Subscribed once the first gauges are recorded: from then on every delivery's latency is seen.
            try await waitUntil("the metrics subscribed") {
                (try? metrics.expectGauge("prefactor_queue_depth", [("agent", "a")])) != nil
            }

            let run = try await client.createAgentInstance(agentVersion: ["name": "measured"], agentSchemaVersion: [:])
            try await run.start()
            for step in 0..<3 {
                try await run.span("agent:step", payload: ["step": .int(Int64(step))]) { _ in }
            }
            try await run.recordQuality(name: "accuracy", payload: ["score": 1])
            try await run.finish()
            let report = await client.shutdown()
            try await running.value
            await measuring.value

            let dimensions = [("agent", "a")]
            #expect(report.deliveredCount > 0 && report.failed.count == 1)
            #expect(
                try metrics.expectCounter("prefactor_queue_delivered_total", dimensions).totalValue
                    == Int64(report.deliveredCount))
            #expect(try metrics.expectCounter("prefactor_queue_failed_total", dimensions).totalValue == 1)
            #expect(try metrics.expectCounter("prefactor_queue_retries_total", dimensions).totalValue == 1)
            #expect(try metrics.expectGauge("prefactor_queue_depth", dimensions).lastValue == 0)
            #expect(try metrics.expectGauge("prefactor_queue_in_flight", dimensions).lastValue == 0)
            #expect(try metrics.expectGauge("prefactor_queue_in_flight", dimensions).values.contains { $0 >= 1 })
            #expect(try metrics.expectGauge("prefactor_queue_retrying", dimensions).values.contains(1))
            #expect(try metrics.expectGauge("prefactor_queue_pending", dimensions).lastValue == 0)
            #expect(try metrics.expectGauge("prefactor_queue_blocked", dimensions).lastValue == 0)
            let latencies = try metrics.expectTimer("prefactor_queue_delivery_latency", dimensions).values
            #expect(latencies.count == report.deliveredCount)
            #expect(latencies.allSatisfy { $0 >= 0 })
        }
    }

    @Test func measuringStopsWhenTheClientIsAlreadyShutDown() async throws {
        try await withTestServer { server in
            let client = try PrefactorClient(configuration: .init(api: .init(apiURL: server.baseURL, apiToken: server.token)))
            await client.shutdown()
            let metrics = TestMetrics()
            await PrefactorQueueMetrics(client: client, factory: metrics).run()
            #expect(try metrics.expectGauge("prefactor_queue_depth").lastValue == 0)
        }
    }
}

/// Waits until `condition` holds, checking every few milliseconds; the limit only turns a hang into a failure.
private func waitUntil(_ what: String, _ condition: () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(30)
    while try !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("Timed out waiting until \(what)")
            return
        }
        try await Task.sleep(for: .milliseconds(5))
    }
}
