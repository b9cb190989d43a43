import Foundation

/// Counts of an instance's spans by status.
public struct SpanCounts: Sendable, Codable, Hashable {
    /// All spans.
    public var total: Int
    /// Spans created but not started.
    public var pending: Int
    /// Running spans.
    public var active: Int
    /// Spans finished successfully.
    public var complete: Int
    /// Spans finished with a failure.
    public var failed: Int
    /// Spans cancelled.
    public var cancelled: Int
    /// `complete + failed + cancelled`.
    public var finished: Int

    /// Creates span counts.
    public init(
        total: Int = 0, pending: Int = 0, active: Int = 0, complete: Int = 0, failed: Int = 0, cancelled: Int = 0,
        finished: Int = 0
    ) {
        self.total = total
        self.pending = pending
        self.active = active
        self.complete = complete
        self.failed = failed
        self.cancelled = cancelled
        self.finished = finished
    }
}

/// One run of an agent (spec §2.1), as the API returns it.
public struct AgentInstance: Sendable, Codable, Hashable, Identifiable {
    /// Always `"agent_instance"`.
    public var type: String
    /// The instance id.
    public var id: String
    /// The owning account.
    public var accountID: String
    /// The agent this is a run of.
    public var agentID: String
    /// The agent version the instance registered with.
    public var agentVersionID: String
    /// The environment.
    public var environmentID: String
    /// The deployment (agent × environment).
    public var agentDeploymentID: String
    /// The current status.
    public var status: AgentStatus
    /// When the instance was registered.
    public var insertedAt: Date
    /// When the instance last changed.
    public var updatedAt: Date
    /// When the instance started, if it has.
    public var startedAt: Date?
    /// When the instance finished or was terminated, if it has.
    public var finishedAt: Date?
    /// The operator's reason, when terminated.
    public var terminationReason: String?
    /// Counts of the instance's spans by status.
    public var spanCounts: SpanCounts?
    /// Why the instance runs.
    public var purpose: InstancePurpose?
    /// Quality records by name.
    public var qualityPayloads: [String: JSONValue]?
    /// Rendered quality templates by name.
    public var qualitySummaries: [String: String]?

    /// Creates an instance value.
    public init(
        id: String, accountID: String, agentID: String, agentVersionID: String, environmentID: String,
        agentDeploymentID: String, status: AgentStatus, insertedAt: Date, updatedAt: Date, startedAt: Date? = nil,
        finishedAt: Date? = nil, terminationReason: String? = nil, spanCounts: SpanCounts? = nil,
        purpose: InstancePurpose? = nil, qualityPayloads: [String: JSONValue]? = nil,
        qualitySummaries: [String: String]? = nil
    ) {
        self.type = "agent_instance"
        self.id = id
        self.accountID = accountID
        self.agentID = agentID
        self.agentVersionID = agentVersionID
        self.environmentID = environmentID
        self.agentDeploymentID = agentDeploymentID
        self.status = status
        self.insertedAt = insertedAt
        self.updatedAt = updatedAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.terminationReason = terminationReason
        self.spanCounts = spanCounts
        self.purpose = purpose
        self.qualityPayloads = qualityPayloads
        self.qualitySummaries = qualitySummaries
    }

    /// The wire's member names, written once: the `Decodable` path, the one-pass decoder and the server's
    /// renderer all read them from here.
    package enum CodingKeys: String, CodingKey {
        case type, id, status, purpose
        case accountID = "account_id"
        case agentID = "agent_id"
        case agentVersionID = "agent_version_id"
        case environmentID = "environment_id"
        case agentDeploymentID = "agent_deployment_id"
        case insertedAt = "inserted_at"
        case updatedAt = "updated_at"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case terminationReason = "termination_reason"
        case spanCounts = "span_counts"
        case qualityPayloads = "quality_payloads"
        case qualitySummaries = "quality_summaries"
    }

    /// Decodes an instance, rejecting any `type` other than `"agent_instance"`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.decode(String.self, forKey: .type)
        guard type == "agent_instance" else {
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: c, debugDescription: "Expected type agent_instance, got \(type)")
        }
        id = try c.decode(String.self, forKey: .id)
        accountID = try c.decode(String.self, forKey: .accountID)
        agentID = try c.decode(String.self, forKey: .agentID)
        agentVersionID = try c.decode(String.self, forKey: .agentVersionID)
        environmentID = try c.decode(String.self, forKey: .environmentID)
        agentDeploymentID = try c.decode(String.self, forKey: .agentDeploymentID)
        status = try c.decode(AgentStatus.self, forKey: .status)
        insertedAt = try c.decode(Date.self, forKey: .insertedAt)
        updatedAt = try c.decode(Date.self, forKey: .updatedAt)
        startedAt = try c.decodeIfPresent(Date.self, forKey: .startedAt)
        finishedAt = try c.decodeIfPresent(Date.self, forKey: .finishedAt)
        terminationReason = try c.decodeIfPresent(String.self, forKey: .terminationReason)
        spanCounts = try c.decodeIfPresent(SpanCounts.self, forKey: .spanCounts)
        purpose = try c.decodeIfPresent(InstancePurpose.self, forKey: .purpose)
        qualityPayloads = try c.decodeIfPresent([String: JSONValue].self, forKey: .qualityPayloads)
        qualitySummaries = try c.decodeIfPresent([String: String].self, forKey: .qualitySummaries)
    }
}

extension SpanCounts: JSONObjectDecodable {
    /// Reads counts as the synthesized `init(from:)` does, without its error messages.
    init(jsonObject c: JSONObjectReader) throws(JSONObjectReader.Mismatch) {
        self.init(
            total: try c.int("total"), pending: try c.int("pending"), active: try c.int("active"),
            complete: try c.int("complete"), failed: try c.int("failed"), cancelled: try c.int("cancelled"),
            finished: try c.int("finished"))
    }
}

extension AgentInstance: JSONObjectDecodable {
    /// Reads an instance as `init(from:)` does, without its error messages.
    init(jsonObject c: JSONObjectReader) throws(JSONObjectReader.Mismatch) {
        typealias K = CodingKeys
        guard try c.string(K.type.rawValue) == "agent_instance" else { throw JSONObjectReader.Mismatch() }
        self.init(
            id: try c.string(K.id.rawValue), accountID: try c.string(K.accountID.rawValue),
            agentID: try c.string(K.agentID.rawValue),
            agentVersionID: try c.string(K.agentVersionID.rawValue), environmentID: try c.string(K.environmentID.rawValue),
            agentDeploymentID: try c.string(K.agentDeploymentID.rawValue),
            status: try c.value(K.status.rawValue, as: AgentStatus.self),
            insertedAt: try c.date(K.insertedAt.rawValue), updatedAt: try c.date(K.updatedAt.rawValue),
            startedAt: try c.optionalDate(K.startedAt.rawValue), finishedAt: try c.optionalDate(K.finishedAt.rawValue),
            terminationReason: try c.optionalString(K.terminationReason.rawValue),
            spanCounts: try c.optionalModel(K.spanCounts.rawValue, as: SpanCounts.self),
            purpose: try c.optionalValue(K.purpose.rawValue, as: InstancePurpose.self),
            qualityPayloads: try c.optionalObject(K.qualityPayloads.rawValue),
            qualitySummaries: try c.optional(K.qualitySummaries.rawValue, JSONObjectReader.stringDictionary))
    }
}
