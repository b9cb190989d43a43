import CoreMetrics
import Foundation
import Metrics
import PrefactorCore
import ServiceLifecycle

/// Publishes a ``PrefactorClient``'s delivery queue through swift-metrics, so that a service can export it (to
/// Prometheus, StatsD, OpenTelemetry…) like any other metric:
///
/// | Label (with the default prefix) | Type | What |
/// |---|---|---|
/// | `prefactor_queue_depth` | gauge | operations not yet settled |
/// | `prefactor_queue_pending` | gauge | ready for a worker |
/// | `prefactor_queue_blocked` | gauge | waiting for an operation they follow |
/// | `prefactor_queue_in_flight` | gauge | being sent |
/// | `prefactor_queue_retrying` | gauge | waiting out a backoff |
/// | `prefactor_queue_delivered_total` | counter | delivered |
/// | `prefactor_queue_failed_total` | counter | failed for good |
/// | `prefactor_queue_retries_total` | counter | attempts that failed and are retried |
/// | `prefactor_queue_delivery_latency` | timer | from enqueue to delivery, per operation |
///
/// It is opt-in: nothing is measured until ``run()`` runs. It reads the client's event stream on its own task, so the
/// agent's calls do not record metrics themselves; they only build the events every subscriber of
/// ``PrefactorClient/events()`` causes. A latency is measured when this task sees the delivery, so it includes how
/// late the task is. Counters count from the client's start (including what it delivered before ``run()``).
///
/// ```swift
/// MetricsSystem.bootstrap(PrometheusMetricsFactory())
/// let client = try PrefactorClient(configuration: configuration)
/// // Before the client: a service group shuts its services down in reverse order.
/// let group = ServiceGroup(
///     services: [PrefactorQueueMetrics(client: client), client, agent], gracefulShutdownSignals: [.sigterm],
///     logger: logger)
/// try await group.run()
/// ```
public final class PrefactorQueueMetrics: Service, Sendable {
    /// The client's atomic snapshot and event stream.
    private let subscribe: @Sendable () -> (snapshot: ClientSnapshot, events: AsyncStream<ClientEvent>)
    private let depth: Gauge
    private let pending: Gauge
    private let blocked: Gauge
    private let inFlight: Gauge
    private let retrying: Gauge
    private let delivered: Counter
    private let failed: Counter
    private let retries: Counter
    private let latency: Metrics.Timer
    private let now: @Sendable () -> Date

    /// Creates the metrics of a client's queue.
    ///
    /// - Parameters:
    ///   - client: The client.
    ///   - labelPrefix: The start of every label.
    ///   - dimensions: Dimensions of every metric (e.g. `[("agent", "support-bot")]`).
    ///   - factory: The metrics backend; the bootstrapped one by default.
    public convenience init(
        client: PrefactorClient, labelPrefix: String = "prefactor_queue", dimensions: [(String, String)] = [],
        factory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.init(
            subscribe: client.subscribe, labelPrefix: labelPrefix, dimensions: dimensions, factory: factory, now: Date.init)
    }

    init(
        subscribe: @escaping @Sendable () -> (snapshot: ClientSnapshot, events: AsyncStream<ClientEvent>),
        labelPrefix: String, dimensions: [(String, String)], factory: any MetricsFactory, now: @escaping @Sendable () -> Date
    ) {
        func label(_ name: String) -> String { "\(labelPrefix)_\(name)" }
        self.subscribe = subscribe
        depth = Gauge(label: label("depth"), dimensions: dimensions, factory: factory)
        pending = Gauge(label: label("pending"), dimensions: dimensions, factory: factory)
        blocked = Gauge(label: label("blocked"), dimensions: dimensions, factory: factory)
        inFlight = Gauge(label: label("in_flight"), dimensions: dimensions, factory: factory)
        retrying = Gauge(label: label("retrying"), dimensions: dimensions, factory: factory)
        delivered = Counter(label: label("delivered_total"), dimensions: dimensions, factory: factory)
        failed = Counter(label: label("failed_total"), dimensions: dimensions, factory: factory)
        retries = Counter(label: label("retries_total"), dimensions: dimensions, factory: factory)
        latency = Metrics.Timer(
            label: label("delivery_latency"), dimensions: dimensions, preferredDisplayUnit: .seconds, factory: factory)
        self.now = now
    }

    /// Records the queue until the client shuts down (its event stream ends) or the task is cancelled. A graceful
    /// shutdown of a surrounding service group does not stop it early: it keeps measuring while the client drains,
    /// so list it before the client in the group (services shut down in reverse order).
    public func run() async {
        var tracker = QueueMetricsTracker()
        while true {
            let (snapshot, events) = subscribe()
            record(tracker.resynchronize(with: snapshot))
            var resubscribe = false
            for await event in events {
                if case .eventsDropped = event {
                    // This reader fell behind and lost events: start over from a fresh snapshot.
                    resubscribe = true
                    break
                }
                record(tracker.apply(event, at: now()))
            }
            if !resubscribe || Task.isCancelled { return }
        }
    }

    private func record(_ measurements: [QueueMeasurement]) {
        for measurement in measurements {
            switch measurement {
            case .gauges(let gauges):
                depth.record(gauges.depth)
                pending.record(gauges.pending)
                blocked.record(gauges.blocked)
                inFlight.record(gauges.inFlight)
                retrying.record(gauges.retrying)
            case .delivered(let count): delivered.increment(by: count)
            case .failed(let count): failed.increment(by: count)
            case .retried: retries.increment()
            case .deliveryLatency(let duration): latency.record(duration: duration)
            }
        }
    }
}
