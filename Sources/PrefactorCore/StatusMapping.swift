import PrefactorWire

/// Every conversion between the statuses of the wire (``AgentStatus``), the SDK's finish (``FinishStatus``), and the
/// client's phases (``SpanPhase``, ``InstancePhase``): total switches, no raw-value bridging, no fallback.
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
