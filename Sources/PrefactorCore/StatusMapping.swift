import PrefactorWire

/// Every conversion between the statuses of the wire (``AgentStatus``), the SDK's finish (``FinishStatus``), the
/// client's phases (``SpanPhase``, ``InstancePhase``) and what a screen shows (``DisplayStatus``): total switches,
/// no raw-value bridging, no fallback.
public enum StatusMapping {
    /// The phase a span has once finished with `status`.
    public static func spanPhase(for status: FinishStatus) -> SpanPhase {
        switch status {
        case .complete: return .complete
        case .failed: return .failed
        case .cancelled: return .cancelled
        }
    }

    /// The phase an instance has once finished with `status`.
    public static func instancePhase(for status: FinishStatus) -> InstancePhase {
        switch status {
        case .complete: return .complete
        case .failed: return .failed
        case .cancelled: return .cancelled
        }
    }

    /// The wire status a span is created with when it already finished with `status` (a create that carries its
    /// finish).
    public static func agentStatus(for status: FinishStatus) -> AgentStatus {
        switch status {
        case .complete: return .complete
        case .failed: return .failed
        case .cancelled: return .cancelled
        }
    }

    /// The phase of a span the API reports with `status`. A `pending` span stays pending. The API terminates
    /// instances, not spans; a span reported `terminated` was stopped before it finished, which is what
    /// `cancelled` means for a span.
    public static func spanPhase(for status: AgentStatus) -> SpanPhase {
        switch status {
        case .pending: return .pending
        case .active: return .active
        case .complete: return .complete
        case .failed: return .failed
        case .cancelled, .terminated: return .cancelled
        }
    }

    /// The phase of an instance the API reports with `status`.
    public static func instancePhase(for status: AgentStatus) -> InstancePhase {
        switch status {
        case .pending: return .registered
        case .active: return .active
        case .complete: return .complete
        case .failed: return .failed
        case .cancelled: return .cancelled
        case .terminated: return .terminated
        }
    }

    /// The wire status of a span phase, or `nil` for `prepared`, which the API never sees.
    public static func agentStatus(for phase: SpanPhase) -> AgentStatus? {
        switch phase {
        case .prepared: return nil
        case .pending: return .pending
        case .active: return .active
        case .complete: return .complete
        case .failed: return .failed
        case .cancelled: return .cancelled
        }
    }

    /// The wire status of an instance phase.
    public static func agentStatus(for phase: InstancePhase) -> AgentStatus {
        switch phase {
        case .registered: return .pending
        case .active: return .active
        case .complete: return .complete
        case .failed: return .failed
        case .cancelled: return .cancelled
        case .terminated: return .terminated
        }
    }
}

/// The status of a row in the tree, as the UI shows it.
public enum DisplayStatus: String, Sendable, Hashable, CaseIterable {
    /// Prepared locally, nothing sent.
    case prepared
    /// Created pending on the API (cancel-unstarted path) or an instance registered but not started.
    case pending
    /// Running.
    case active
    /// Finished successfully.
    case complete
    /// Finished with a failure.
    case failed
    /// Cancelled.
    case cancelled
    /// Terminated by an operator (instances).
    case terminated
    /// No longer on the API (it answered 404 for it, e.g. a restarted in-memory server).
    case gone

    /// The status of a span phase.
    public init(_ phase: SpanPhase) {
        switch phase {
        case .prepared: self = .prepared
        case .pending: self = .pending
        case .active: self = .active
        case .complete: self = .complete
        case .failed: self = .failed
        case .cancelled: self = .cancelled
        }
    }

    /// The status of an instance phase.
    public init(_ phase: InstancePhase) {
        switch phase {
        case .registered: self = .pending
        case .active: self = .active
        case .complete: self = .complete
        case .failed: self = .failed
        case .cancelled: self = .cancelled
        case .terminated: self = .terminated
        }
    }

    /// Whether the row is an error for the errors-only view.
    public var isError: Bool { self == .failed || self == .cancelled || self == .terminated || self == .gone }
}
