/// The status of an agent instance or a span (spec §4.1).
public enum AgentStatus: String, Sendable, Codable, CaseIterable, Hashable {
    /// Registered (instance) or created before starting (span).
    case pending
    /// Running.
    case active
    /// Finished successfully.
    case complete
    /// Finished with a failure.
    case failed
    /// Finished by cancellation.
    case cancelled
    /// Stopped by an operator through the terminate endpoint (instances only).
    case terminated

    /// Whether no further transition is possible.
    public var isTerminal: Bool {
        switch self {
        case .pending, .active: return false
        case .complete, .failed, .cancelled, .terminated: return true
        }
    }
}

/// The status an instance or a span is finished with.
public enum FinishStatus: String, Sendable, Codable, CaseIterable, Hashable {
    /// Finished successfully.
    case complete
    /// Finished with a failure.
    case failed
    /// Finished by cancellation.
    case cancelled

    /// The same status as an ``AgentStatus``.
    public var agentStatus: AgentStatus {
        switch self {
        case .complete: return .complete
        case .failed: return .failed
        case .cancelled: return .cancelled
        }
    }
}

/// Why an instance runs (spec §2.1); the server defaults to ``live``.
public enum InstancePurpose: String, Sendable, Codable, CaseIterable, Hashable {
    /// A production run.
    case live
    /// A smoke test.
    case smokeTest = "smoke_test"
    /// An evaluation run.
    case eval
}

/// The lifecycle status of an agent (spec §2.3).
public enum AgentLifecycleStatus: String, Sendable, Codable, CaseIterable, Hashable {
    /// Created, no instance registered yet.
    case pending
    /// In use.
    case active
    /// Not used recently.
    case dormant
    /// Retired; can be reinstated.
    case retired
}
