import Foundation
import Logging
import PrefactorHTTP
import PrefactorWire
import Synchronization

extension PrefactorClient {
    /// When a span's start returns.
    public enum SpanStartMode: String, Sendable, Hashable {
        /// Start queues the create and returns at once with a local id that the client resolves to the API's id.
        case queued
        /// Start awaits the create (`POST /agent_spans`) and returns the API's id, as the official Python SDK does.
        case synchronous
    }

    /// How the core client queues and delivers telemetry.
    public struct Configuration: Sendable {
        /// The API and its per-request settings. Its retry policy sets the backoff of queued operations.
        public var api: APIClient.Configuration
        /// Concurrent delivery workers (1–20).
        public var workers: Int
        /// Queued or synchronous span start.
        public var spanStartMode: SpanStartMode
        /// Attempts per operation before a transient failure counts as permanent; `nil` retries until shutdown.
        public var maxDeliveryAttempts: Int?
        /// How long ``PrefactorClient/shutdown()`` waits for the queue to drain.
        public var drainTimeout: Duration
        /// How often started instances are polled for termination (spec §6).
        public var terminationPollInterval: Duration
        /// How often the client checks whether a rejected token works again, and its housekeeping tick.
        public var maintenanceInterval: Duration
        /// Span types and quality schemas, sent at register when no schema version is given.
        public var schemaRegistry: SchemaRegistry?
        /// Events buffered per subscriber before the oldest are dropped.
        public var eventBufferSize: Int
        /// Whether ``withPrefactorClient(configuration:logger:_:)`` checks the token before running its body.
        public var validateTokenOnStart: Bool
        /// Where undelivered operations are kept.
        public var queueStore: any TelemetryQueueStore
        /// Whether a span finished before its create was sent goes to the API as one create carrying the final
        /// status, result and finish time (as the official TypeScript SDK sends completed spans), instead of a create
        /// and a finish. On by default: a backlog drains with up to half the requests, and a span whose create went
        /// out before it finished is sent exactly as the official Python SDK sends it. Only a create never attempted
        /// is combined (a retry can never replay an earlier answer for it), and never with a finish whose idempotency
        /// key the caller chose. Set it to `false` for the official Python SDK's requests in every case.
        public var coalesceSpanFinishes: Bool
        /// A queue file (SQLite): when set, queued operations are written to it before the call that queued them
        /// returns, survive a crash, and are taken over by the next client opened on it. `nil` (the default, as in
        /// the official SDKs) keeps the queue in memory. Read from `PREFACTOR_QUEUE_FILE`.
        public var queueFile: String?
        /// How hard the queue file's writes are pushed to the disk (`PREFACTOR_QUEUE_SYNC`: `normal` or `full`).
        public var queueDurability: SQLiteTelemetryQueueStore.Durability
        /// The most operations the queue holds; beyond it new operations are refused with
        /// ``PrefactorError/Code/queueFull`` and a ``ClientEvent/queueNotice(_:)``, never dropped silently. `nil`
        /// for no limit. Read from `PREFACTOR_QUEUE_MAX_OPERATIONS`.
        public var maxQueuedOperations: Int?
        /// About the most bytes the queued operations take (their payloads plus a fixed
        /// ``TelemetryOperation/fixedSize`` each, see ``TelemetryOperation/estimatedSize``): in memory, and in the queue
        /// file when there is one. Beyond it new operations are refused with ``PrefactorError/Code/queueFull`` and a
        /// ``ClientEvent/queueNotice(_:)``. `nil` for no limit; 512 MiB by default. Read from
        /// `PREFACTOR_QUEUE_MAX_BYTES` (a number of bytes, or with a unit: `64MiB`, `1G`).
        public var maxQueuedBytes: Int?
        /// The most span creates one bulk request (`POST /api/v1/bulk`) carries. When two or more creates are ready
        /// at once (a backlog), a worker sends up to this many in one request, each with its own idempotency key; a
        /// lone create still goes as its own request, exactly as the official Python SDK sends it. 0 (or 1) sends
        /// every operation as its own request. Read from `PREFACTOR_BULK_MAX_ITEMS`.
        public var bulkMaxItems: Int
        /// With a queue file: about the most payload bytes (as ``TelemetryOperation/estimatedSize`` counts them) the
        /// queued operations keep in memory. Beyond it a new operation's payload (span parameters or result, a
        /// quality record) stays in the file only, and is read back when the operation is sent: a backlog of any size
        /// costs the client little memory, and a small one is never read back. The span snapshots of such operations
        /// leave the payload out (``SpanSnapshot/payloadInQueueFile``). 1 MiB by default; read from
        /// `PREFACTOR_QUEUE_PAYLOAD_MEMORY` (bytes, or with a unit: `512KiB`, `4MiB`; `0` keeps none in memory).
        public var queuePayloadMemory = Configuration.defaultQueuePayloadMemory
        /// The default of ``queuePayloadMemory``.
        public static let defaultQueuePayloadMemory = 1 << 20

        /// The default of ``bulkMaxItems``: 100, measured (`prefactor-core-benchmark drain`, 3 workers, release builds,
        /// medians of 5 alternating rounds against one `prefactor serve`). With 50 ms added to every request the drain
        /// delivered 956, 2,007, 2,973, 3,485 and 3,631 operations/s at 10, 25, 50, 100 and 200 items: 100 takes
        /// +17 % over 50 and 200 adds only 4 % more. On loopback (10 instances × 1,000 spans) 50 and 100 were level
        /// (9,393 and 9,492) and 200 fell back (8,227). Past 100 a request grows, and a whole-request retry resends
        /// more, for little.
        public static let defaultBulkMaxItems = 100
        /// The largest ``bulkMaxItems`` accepted.
        public static let bulkMaxItemsLimit = 1_000

        /// Creates a configuration with the official SDK's defaults (3 workers, 10 s drain, 30 s poll).
        public init(
            api: APIClient.Configuration, workers: Int = 3, spanStartMode: SpanStartMode = .queued,
            maxDeliveryAttempts: Int? = nil, drainTimeout: Duration = .seconds(10),
            terminationPollInterval: Duration = .seconds(30), maintenanceInterval: Duration = .seconds(1),
            schemaRegistry: SchemaRegistry? = nil, eventBufferSize: Int = 10_000, validateTokenOnStart: Bool = true,
            queueStore: any TelemetryQueueStore = InMemoryTelemetryQueueStore(), coalesceSpanFinishes: Bool = true,
            queueFile: String? = nil, queueDurability: SQLiteTelemetryQueueStore.Durability = .processCrash,
            maxQueuedOperations: Int? = 1_000_000, maxQueuedBytes: Int? = 512 << 20,
            bulkMaxItems: Int = Configuration.defaultBulkMaxItems
        ) {
            self.api = api
            self.workers = workers
            self.spanStartMode = spanStartMode
            self.maxDeliveryAttempts = maxDeliveryAttempts
            self.drainTimeout = drainTimeout
            self.terminationPollInterval = terminationPollInterval
            self.maintenanceInterval = maintenanceInterval
            self.schemaRegistry = schemaRegistry
            self.eventBufferSize = eventBufferSize
            self.validateTokenOnStart = validateTokenOnStart
            self.queueStore = queueStore
            self.coalesceSpanFinishes = coalesceSpanFinishes
            self.queueFile = queueFile
            self.queueDurability = queueDurability
            self.maxQueuedOperations = maxQueuedOperations
            self.maxQueuedBytes = maxQueuedBytes
            self.bulkMaxItems = bulkMaxItems
        }

        /// Reads the API settings from `PREFACTOR_API_URL`, `PREFACTOR_API_TOKEN` and the other variables of spec §9.
        ///
        /// - Parameter environment: The variables, by default the process's.
        /// - Returns: A configuration with default queue settings.
        /// - Throws: ``PrefactorHTTP/PrefactorHTTPError`` when a value is missing or invalid.
        public static func fromEnvironment(
            _ environment: [String: String] = ProcessInfo.processInfo.environment
        ) throws -> Configuration {
            var configuration = Configuration(api: try APIClient.Configuration.fromEnvironment(environment))
            if let file = environment["PREFACTOR_QUEUE_FILE"], !file.isEmpty { configuration.queueFile = file }
            if let sync = environment["PREFACTOR_QUEUE_SYNC"], !sync.isEmpty {
                guard let durability = SQLiteTelemetryQueueStore.Durability(rawValue: sync.lowercased()) else {
                    throw PrefactorError(
                        code: .invalidConfiguration, message: "PREFACTOR_QUEUE_SYNC must be normal or full, got \(sync)")
                }
                configuration.queueDurability = durability
            }
            if let limit = environment["PREFACTOR_QUEUE_MAX_OPERATIONS"], !limit.isEmpty {
                guard let value = Int(limit), value > 0 else {
                    throw PrefactorError(
                        code: .invalidConfiguration,
                        message: "PREFACTOR_QUEUE_MAX_OPERATIONS must be a positive whole number, got \(limit)")
                }
                configuration.maxQueuedOperations = value
            }
            if let budget = environment["PREFACTOR_QUEUE_PAYLOAD_MEMORY"], !budget.isEmpty {
                guard let value = ByteCount.parse(budget) else {
                    throw PrefactorError(
                        code: .invalidConfiguration,
                        message:
                            "PREFACTOR_QUEUE_PAYLOAD_MEMORY must be a size (bytes, or with a unit: 512KiB, 4MiB), got \(budget)")
                }
                configuration.queuePayloadMemory = value
            }
            if let limit = environment["PREFACTOR_QUEUE_MAX_BYTES"], !limit.isEmpty {
                guard let value = ByteCount.parse(limit), value >= minimumQueuedBytes else {
                    throw PrefactorError(
                        code: .invalidConfiguration,
                        message:
                            "PREFACTOR_QUEUE_MAX_BYTES must be a size of at least 64KiB (bytes, or with a unit: 64MiB, 1G), got \(limit)"
                    )
                }
                configuration.maxQueuedBytes = value
            }
            if let items = environment["PREFACTOR_BULK_MAX_ITEMS"], !items.isEmpty {
                guard let value = Int(items), (0...bulkMaxItemsLimit).contains(value) else {
                    throw PrefactorError(
                        code: .invalidConfiguration,
                        message: "PREFACTOR_BULK_MAX_ITEMS must be a whole number from 0 to \(bulkMaxItemsLimit), got \(items)")
                }
                configuration.bulkMaxItems = value
            }
            return configuration
        }

        /// The smallest ``maxQueuedBytes``: room for a few hundred operations.
        static let minimumQueuedBytes = 64 << 10

        func validate() throws(PrefactorError) {
            guard (1...20).contains(workers) else {
                throw PrefactorError(code: .invalidConfiguration, message: "workers must be from 1 to 20, got \(workers)")
            }
            if let maxDeliveryAttempts, maxDeliveryAttempts < 1 {
                throw PrefactorError(code: .invalidConfiguration, message: "maxDeliveryAttempts must be at least 1")
            }
            if let maxQueuedOperations, maxQueuedOperations < 1 {
                throw PrefactorError(code: .invalidConfiguration, message: "maxQueuedOperations must be at least 1")
            }
            if let maxQueuedBytes, maxQueuedBytes < Self.minimumQueuedBytes {
                throw PrefactorError(code: .invalidConfiguration, message: "maxQueuedBytes must be at least 64 KiB")
            }
            guard (0...Self.bulkMaxItemsLimit).contains(bulkMaxItems) else {
                throw PrefactorError(
                    code: .invalidConfiguration,
                    message: "bulkMaxItems must be from 0 to \(Self.bulkMaxItemsLimit), got \(bulkMaxItems)")
            }
            guard drainTimeout >= .zero, terminationPollInterval > .zero, maintenanceInterval > .zero else {
                throw PrefactorError(code: .invalidConfiguration, message: "Timeouts and intervals must be positive")
            }
            do { try api.validate() } catch {
                throw PrefactorError(code: .invalidConfiguration, message: error.message, underlying: error)
            }
        }
    }
}
