import Foundation
import Logging
import PrefactorHTTP
import PrefactorWire
import Synchronization

/// An error of the core client. Each says what went wrong and what to do about it.
public struct PrefactorError: Error, Sendable, CustomStringConvertible {
    /// The kind of error.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case unknownSpan, unknownInstance, alreadyStarted, alreadyFinished, notStarted, startInProgress
            case parentNotCreated, spanNotCreated, clientShutDown, clientAlreadyRunning, invalidIdempotencyKey
            case invalidConfiguration, invalidArgument, api, undelivered, missingSchema
            case queueFull, queueFileInUse, queueFileUnavailable
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// No span with that id was created through this client.
        public static let unknownSpan = Code(.unknownSpan)
        /// No instance with that id is known to this client.
        public static let unknownInstance = Code(.unknownInstance)
        /// The span was already started (or finished); it can be started only once.
        public static let alreadyStarted = Code(.alreadyStarted)
        /// The span or instance was already finished.
        public static let alreadyFinished = Code(.alreadyFinished)
        /// The span was never started.
        public static let notStarted = Code(.notStarted)
        /// A synchronous start of the span is being sent; wait for it rather than start it again.
        public static let startInProgress = Code(.startInProgress)
        /// A synchronous start needs the parent's API id, and the parent's create was not delivered yet.
        public static let parentNotCreated = Code(.parentNotCreated)
        /// The span has no API id: its create was not delivered.
        public static let spanNotCreated = Code(.spanNotCreated)
        /// The client was shut down; create a new one.
        public static let clientShutDown = Code(.clientShutDown)
        /// ``PrefactorClient/run()`` was called a second time, or on a client that already stopped.
        public static let clientAlreadyRunning = Code(.clientAlreadyRunning)
        /// An idempotency key was empty or longer than 64 characters.
        public static let invalidIdempotencyKey = Code(.invalidIdempotencyKey)
        /// The client's configuration is invalid (see ``PrefactorError/message`` for the setting).
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// An argument was invalid (for example, colliding names in a schema registry).
        public static let invalidArgument = Code(.invalidArgument)
        /// A synchronous API call failed; see ``PrefactorError/underlying``.
        public static let api = Code(.api)
        /// Operations could not be delivered before the shutdown deadline, or failed permanently.
        public static let undelivered = Code(.undelivered)
        /// The queue holds its maximum of operations: the new one was refused (nothing queued was dropped).
        public static let queueFull = Code(.queueFull)
        /// The queue file is owned by another live process.
        public static let queueFileInUse = Code(.queueFileInUse)
        /// The queue file cannot be created, opened or read.
        public static let queueFileUnavailable = Code(.queueFileUnavailable)
        /// No schema version was given and no schema registry is configured.
        public static let missingSchema = Code(.missingSchema)

        /// The code's name.
        public var description: String { base.rawValue }
    }

    /// The kind of error.
    public var code: Code
    /// What went wrong and what to do.
    public var message: String
    /// The API error behind an ``Code/api`` error.
    public var underlying: PrefactorHTTPError?
    /// For ``Code/undelivered``: what was not delivered.
    public var report: DeliveryReport?

    /// Creates an error.
    public init(code: Code, message: String, underlying: PrefactorHTTPError? = nil, report: DeliveryReport? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
        self.report = report
    }

    /// A one-line description.
    public var description: String {
        var text = "PrefactorError.\(code): \(message)"
        if let underlying { text += " (\(underlying.description))" }
        return text
    }

    static func unknownSpan(_ id: String) -> PrefactorError {
        PrefactorError(
            code: .unknownSpan,
            message:
                "No span with id \(id) was prepared or created by this client; use the id returned by prepare, start or createSpan"
        )
    }

    static func unknownInstance(_ id: String) -> PrefactorError {
        PrefactorError(
            code: .unknownInstance,
            message: "No agent instance with id \(id) is known to this client; register it with createAgentInstance first")
    }

    static func spanAlreadyStarted(_ id: String, as phase: SpanPhase, hint: String?) -> PrefactorError {
        PrefactorError(
            code: .alreadyStarted,
            message: "Span \(id) was already started (it is \(phase)); \(hint ?? "start a span only once")")
    }

    static func spanAlreadyFinished(_ id: String, as phase: SpanPhase) -> PrefactorError {
        PrefactorError(
            code: .alreadyFinished, message: "Span \(id) was already finished as \(phase); finish a span only once")
    }

    static func spanNotStarted(_ id: String) -> PrefactorError {
        PrefactorError(
            code: .notStarted, message: "Span \(id) was never started; start it, or cancel it with cancelUnstarted")
    }

    static func spanStartInFlight(_ id: String) -> PrefactorError {
        PrefactorError(
            code: .startInProgress, message: "Span \(id) is being started (its create is in flight); wait for that start")
    }

    static func parentNotCreated(_ id: String) -> PrefactorError {
        PrefactorError(
            code: .parentNotCreated,
            message: "The parent span \(id) has no API id yet; start the parent first (synchronous start mode)")
    }

    static func spanNotCreated(_ id: String) -> PrefactorError {
        PrefactorError(code: .spanNotCreated, message: "Span \(id) has no API id: its create was not delivered")
    }

    static func instanceAlreadyFinished(_ id: String) -> PrefactorError {
        PrefactorError(code: .alreadyFinished, message: "Agent instance \(id) was already finished; finish it only once")
    }

    static func queueFull(_ limit: Int) -> PrefactorError {
        PrefactorError(
            code: .queueFull,
            message:
                "The queue holds its maximum of \(limit) operations (the API is slow or down); this one was refused. Raise maxQueuedOperations or wait for the backlog to drain"
        )
    }

    static func queueFull(bytes limit: Int) -> PrefactorError {
        PrefactorError(
            code: .queueFull,
            message:
                "The queue holds its maximum of \(ByteCount.text(limit)) of operations (the API is slow or down); this one was refused. Raise maxQueuedBytes or wait for the backlog to drain"
        )
    }

    static let alreadyRunning = PrefactorError(
        code: .clientAlreadyRunning,
        message: "run() was already called on this client (or it already stopped); a client runs once")

    static let shutDown = PrefactorError(
        code: .clientShutDown, message: "The client has been shut down; create a new PrefactorClient to send more telemetry")

    static func checkKey(_ key: String) throws(PrefactorError) {
        if let problem = IdempotencyKey.problem(with: key) {
            throw PrefactorError(code: .invalidIdempotencyKey, message: problem + "; pass a shorter key (a UUID is 36)")
        }
    }
}
