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
            case unknownSpan, unknownInstance, alreadyFinished, notStarted, clientShutDown, invalidIdempotencyKey
            case invalidArgument, api, undelivered, missingSchema
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// No span with that id was created through this client.
        public static let unknownSpan = Code(.unknownSpan)
        /// No instance with that id is known to this client.
        public static let unknownInstance = Code(.unknownInstance)
        /// The span or instance was already finished.
        public static let alreadyFinished = Code(.alreadyFinished)
        /// The span was never started.
        public static let notStarted = Code(.notStarted)
        /// The client was shut down; create a new one.
        public static let clientShutDown = Code(.clientShutDown)
        /// An idempotency key was empty or longer than 64 characters.
        public static let invalidIdempotencyKey = Code(.invalidIdempotencyKey)
        /// An argument was invalid.
        public static let invalidArgument = Code(.invalidArgument)
        /// A synchronous API call failed; see ``PrefactorError/underlying``.
        public static let api = Code(.api)
        /// Operations could not be delivered before the shutdown deadline, or failed permanently.
        public static let undelivered = Code(.undelivered)
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
            message: "No span with id \(id) was prepared or created by this client; use the id returned by prepare, start or createSpan")
    }

    static func unknownInstance(_ id: String) -> PrefactorError {
        PrefactorError(
            code: .unknownInstance,
            message: "No agent instance with id \(id) is known to this client; register it with createAgentInstance first")
    }

    static let shutDown = PrefactorError(
        code: .clientShutDown, message: "The client has been shut down; create a new PrefactorClient to send more telemetry")

    static func checkKey(_ key: String) throws(PrefactorError) {
        if let problem = IdempotencyKey.problem(with: key) {
            throw PrefactorError(code: .invalidIdempotencyKey, message: problem + "; pass a shorter key (a UUID is 36)")
        }
    }
}
