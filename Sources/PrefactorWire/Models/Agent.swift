import Foundation

/// Counts of an agent's instances by status.
public struct InstanceCounts: Sendable, Codable, Hashable {
    /// All instances.
    public var total: Int
    /// Registered, not started.
    public var pending: Int
    /// Running.
    public var active: Int
    /// Finished successfully.
    public var complete: Int
    /// Finished with a failure.
    public var failed: Int
    /// Cancelled.
    public var cancelled: Int
    /// Terminated by an operator.
    public var terminated: Int
    /// `complete + failed + cancelled + terminated`.
    public var finished: Int

    /// Creates instance counts.
    public init(
        total: Int = 0, pending: Int = 0, active: Int = 0, complete: Int = 0, failed: Int = 0, cancelled: Int = 0,
        terminated: Int = 0, finished: Int = 0
    ) {
        self.total = total
        self.pending = pending
        self.active = active
        self.complete = complete
        self.failed = failed
        self.cancelled = cancelled
        self.terminated = terminated
        self.finished = finished
    }
}

/// Which management actions an agent currently allows.
public struct AvailableActions: Sendable, Codable, Hashable {
    /// Can be updated.
    public var update: Bool
    /// Can be retired.
    public var retire: Bool
    /// Can be reinstated.
    public var reinstate: Bool
    /// Can be deleted.
    public var delete: Bool

    /// Creates an action set.
    public init(update: Bool = false, retire: Bool = false, reinstate: Bool = false, delete: Bool = false) {
        self.update = update
        self.retire = retire
        self.reinstate = reinstate
        self.delete = delete
    }
}

/// An agent (spec §2.3); list rows carry the same fields without `instance_counts` and `risk_profile_id`.
public struct Agent: Sendable, Codable, Hashable, Identifiable {
    /// Always `"agent"`.
    public var type: String
    /// The agent id.
    public var id: String
    /// The agent's name.
    public var name: String
    /// The lifecycle status.
    public var status: AgentLifecycleStatus
    /// A description.
    public var description: String?
    /// An identifier chosen by the account, unique per account.
    public var externalIdentifier: String?
    /// The owning person.
    public var ownerPersonID: String?
    /// The risk profile.
    public var riskProfileID: String?
    /// The owning team.
    public var teamID: String?
    /// Counts of the agent's instances (only when requested).
    public var instanceCounts: InstanceCounts?
    /// Allowed management actions.
    public var availableActions: AvailableActions?
    /// When the agent was created.
    public var insertedAt: Date?
    /// When the agent last changed.
    public var updatedAt: Date?

    /// Creates an agent value.
    public init(
        id: String, name: String, status: AgentLifecycleStatus, description: String? = nil,
        externalIdentifier: String? = nil, ownerPersonID: String? = nil, riskProfileID: String? = nil,
        teamID: String? = nil, instanceCounts: InstanceCounts? = nil, availableActions: AvailableActions? = nil,
        insertedAt: Date? = nil, updatedAt: Date? = nil
    ) {
        self.type = "agent"
        self.id = id
        self.name = name
        self.status = status
        self.description = description
        self.externalIdentifier = externalIdentifier
        self.ownerPersonID = ownerPersonID
        self.riskProfileID = riskProfileID
        self.teamID = teamID
        self.instanceCounts = instanceCounts
        self.availableActions = availableActions
        self.insertedAt = insertedAt
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case type, id, name, status, description
        case externalIdentifier = "external_identifier"
        case ownerPersonID = "owner_person_id"
        case riskProfileID = "risk_profile_id"
        case teamID = "team_id"
        case instanceCounts = "instance_counts"
        case availableActions = "available_actions"
        case insertedAt = "inserted_at"
        case updatedAt = "updated_at"
    }

    /// Decodes an agent, rejecting any `type` other than `"agent"`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.decode(String.self, forKey: .type)
        guard type == "agent" else {
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: c, debugDescription: "Expected type agent, got \(type)")
        }
        id = try c.decode(String.self, forKey: .id)
        name = try c.decode(String.self, forKey: .name)
        status = try c.decode(AgentLifecycleStatus.self, forKey: .status)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        externalIdentifier = try c.decodeIfPresent(String.self, forKey: .externalIdentifier)
        ownerPersonID = try c.decodeIfPresent(String.self, forKey: .ownerPersonID)
        riskProfileID = try c.decodeIfPresent(String.self, forKey: .riskProfileID)
        teamID = try c.decodeIfPresent(String.self, forKey: .teamID)
        instanceCounts = try c.decodeIfPresent(InstanceCounts.self, forKey: .instanceCounts)
        availableActions = try c.decodeIfPresent(AvailableActions.self, forKey: .availableActions)
        insertedAt = try c.decodeIfPresent(Date.self, forKey: .insertedAt)
        updatedAt = try c.decodeIfPresent(Date.self, forKey: .updatedAt)
    }
}
