import NIOHTTP1
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

@Suite(.timeLimit(.minutes(1)))
struct AgentEndpointTests {
    static let zeroCounts: JSONValue = [
        "total": 0, "pending": 0, "active": 0, "complete": 0, "failed": 0, "cancelled": 0, "terminated": 0, "finished": 0,
    ]

    // MARK: Create and get

    @Test func createReturnsAPendingAgentWithCountsAndActions() async throws {
        try await withAPI { api in
            let details = try await api.createAgent([
                "name": "Support bot", "description": "Answers tickets", "external_identifier": "support-bot",
                "owner_person_id": "person_1", "risk_profile_id": "risk_1", "team_id": "team_1",
            ])
            #expect(details["type"] == "agent")
            #expect(details["id"]?.stringValue?.isEmpty == false)
            #expect(details["name"] == "Support bot")
            #expect(details["description"] == "Answers tickets")
            #expect(details["external_identifier"] == "support-bot")
            #expect(details["owner_person_id"] == "person_1")
            #expect(details["risk_profile_id"] == "risk_1")
            #expect(details["team_id"] == "team_1")
            #expect(details["status"] == "pending")
            #expect(details["instance_counts"] == Self.zeroCounts)
            #expect(details["available_actions"] == ["update": true, "retire": true, "reinstate": false, "delete": true])
            #expect(isZuluMicroseconds(details["inserted_at"]))
            #expect(isZuluMicroseconds(details["updated_at"]))

            let id = try #require(details["id"]?.stringValue)
            #expect(try await api.get("/api/v1/agent/\(id)").details() == details)
        }
    }

    @Test func createHonoursAClientChosenIDAndRejectsDuplicates() async throws {
        try await withAPI { api in
            let details = try await api.createAgent(["id": "agent_chosen", "name": "Chosen", "external_identifier": "ext-1"])
            #expect(details["id"] == "agent_chosen")
            let before = try await api.snapshot()
            try await api.post("/api/v1/agent", ["details": ["id": "agent_chosen", "name": "Again"]]).expectError(409, "conflict")
            try await api.post("/api/v1/agent", ["details": ["name": "Other", "external_identifier": "ext-1"]])
                .expectError(409, "conflict")
            try await api.post("/api/v1/agent", ["details": ["id": "agent_local", "name": "Default"]]).expectError(
                409, "conflict")
            #expect(try await api.snapshot() == before)
        }
    }

    @Test func getUnknownAgentIsNotFound() async throws {
        try await withAPI { api in
            try await api.get("/api/v1/agent/agent_missing").expectError(404, "not_found")
        }
    }

    @Test func instanceCountsFollowTheInstancesOfTheAgent() async throws {
        try await withAPI { api in
            _ = try await api.createAgent(["id": "agent_counted", "name": "Counted"])
            func make(_ state: InstanceState) async throws {
                let id = try await api.registerID(["agent_id": "agent_counted"])
                let path = "/api/v1/agent_instance/\(id)"
                switch state {
                case .pending: break
                case .active: _ = try await api.post(path + "/start", [:]).details()
                case .terminated: _ = try await api.post(path + "/terminate", [:]).details()
                case .complete, .failed, .cancelled:
                    _ = try await api.post(path + "/finish", ["status": .string(state.rawValue)]).details()
                }
            }
            for state in InstanceState.allCases { try await make(state) }
            try await make(.complete)
            let details = try await api.get("/api/v1/agent/agent_counted").details()
            #expect(details["status"] == "active", "registering an instance activates a pending agent")
            #expect(
                details["instance_counts"]
                    == [
                        "total": 7, "pending": 1, "active": 1, "complete": 2, "failed": 1, "cancelled": 1, "terminated": 1,
                        "finished": 5,
                    ])
            #expect(details["available_actions"]?["delete"] == false)
        }
    }

    // MARK: List and show

    @Test func listSortsByNameAndReturnsSummaries() async throws {
        try await withAPI { api in
            for name in ["Charlie", "alpha", "Bravo"] {
                _ = try await api.createAgent(["name": .string(name), "risk_profile_id": "r"])
            }
            let reply = try await api.get("/api/v1/agent")
            let rows = try reply.summaries()
            // SQLite's default collation: upper case sorts before lower case.
            #expect(rows.map { $0["name"] } == ["Bravo", "Charlie", "Local agent", "alpha"])
            #expect(reply.json?["sorting"] == ["field": "name", "direction": "asc"])
            #expect(reply.json?["pagination"]?["item_count"] == 4)
            for row in rows {
                #expect(row["type"] == "agent")
                #expect(row.objectValue?["risk_profile_id"] == nil, "AgentSummary has no risk_profile_id")
                #expect(row.objectValue?["instance_counts"] == nil, "AgentSummary has no instance_counts")
                #expect(row["available_actions"]?.objectValue != nil)
            }
            let descending = try await api.get("/api/v1/agent?sorting=-name").summaries()
            #expect(descending.map { $0["name"] } == ["alpha", "Local agent", "Charlie", "Bravo"])
        }
    }

    @Test func listFiltersAndPaginates() async throws {
        try await withAPI { api in
            for index in 1...4 {
                _ = try await api.createAgent([
                    "id": .string("agent_\(index)"), "name": .string("Agent \(index)"),
                    "team_id": index.isMultiple(of: 2) ? "team_even" : "team_odd", "owner_person_id": "owner",
                ])
            }
            let even = try await api.get("/api/v1/agent?team_id=team_even&sorting=id").summaries()
            #expect(even.map { $0["id"] } == ["agent_2", "agent_4"])
            let owned = try await api.get("/api/v1/agent?owner_person_id=owner").summaries()
            #expect(owned.count == 4)

            let page = try await api.get("/api/v1/agent?sorting=id&\(pageQuery(offset: 1, size: 2))")
            #expect(try page.summaries().map { $0["id"] } == ["agent_2", "agent_3"])
            #expect(
                page.json?["pagination"]
                    == [
                        "item_count": 5, "item_start": 2, "item_end": 3, "page_count": 3, "page_index": 1, "page_offset": 1,
                        "page_size": 2, "next_page_offset": 3, "previous_page_offset": 0,
                    ])
            let badSort = try await api.get("/api/v1/agent?sorting=description")
            badSort.expectError(422, "validation_error")
            #expect(badSort.errorFields == ["sorting"])
        }
    }

    @Test func showFindsByIDOrExternalIdentifier() async throws {
        try await withAPI { api in
            let created = try await api.createAgent(["id": "agent_shown", "name": "Shown", "external_identifier": "shown-ext"])
            let byID = try await api.get("/api/v1/agent/show?agent_id=agent_shown").details()
            let byExternal = try await api.get("/api/v1/agent/show?external_identifier=shown-ext").details()
            #expect(byID["id"] == "agent_shown")
            #expect(byExternal == byID)
            #expect(byID.objectValue?["instance_counts"] == nil)
            let counted = try await api.get("/api/v1/agent/show?agent_id=agent_shown&include_counts=true").details()
            #expect(counted["instance_counts"] == Self.zeroCounts)
            #expect(counted == created)
        }
    }

    @Test(arguments: ["", "agent_id=agent_local&external_identifier=x"])
    func showNeedsExactlyOneSelector(query: String) async throws {
        try await withAPI { api in
            try await api.get("/api/v1/agent/show?\(query)").expectError(422, "validation_error")
        }
    }

    @Test(arguments: ["agent_id=agent_missing", "external_identifier=missing"])
    func showOfAnUnknownAgentIsNotFound(query: String) async throws {
        try await withAPI { api in
            try await api.get("/api/v1/agent/show?\(query)").expectError(404, "not_found")
        }
    }

    // MARK: Update

    @Test func updateChangesGivenFieldsClearsNullsAndKeepsOmitted() async throws {
        try await withAPI { api in
            _ = try await api.createAgent([
                "id": "agent_upd", "name": "Before", "description": "old", "team_id": "team_1", "owner_person_id": "p1",
            ])
            let updated = try await api.put(
                "/api/v1/agent/agent_upd", ["details": ["name": "After", "description": nil, "team_id": "team_2"]]
            ).details()
            #expect(updated["name"] == "After")
            #expect(updated["description"] == .null)
            #expect(updated["team_id"] == "team_2")
            #expect(updated["owner_person_id"] == "p1")
            #expect(try await api.get("/api/v1/agent/agent_upd").details() == updated)
        }
    }

    @Test func updateRejectsBadFieldsWithoutChanges() async throws {
        try await withAPI { api in
            _ = try await api.createAgent(["id": "agent_fixed", "name": "Fixed", "external_identifier": "fixed"])
            let before = try await api.snapshot()
            let external = try await api.put(
                "/api/v1/agent/agent_fixed", ["details": ["external_identifier": "other", "name": "X"]])
            external.expectError(422, "validation_error")
            #expect(external.errorFields == ["external_identifier"])
            let nullName = try await api.put("/api/v1/agent/agent_fixed", ["details": ["name": nil]])
            nullName.expectError(422, "validation_error")
            #expect(nullName.errorFields == ["name"])
            try await api.put("/api/v1/agent/agent_fixed", ["details": ["name": ""]]).expectError(422, "validation_error")
            try await api.put("/api/v1/agent/agent_fixed", ["details": ["team_id": 7]]).expectError(422, "validation_error")
            try await api.put("/api/v1/agent/agent_fixed", ["name": "no details"]).expectError(422, "validation_error")
            try await api.put("/api/v1/agent/agent_missing", ["details": ["name": "Y"]]).expectError(404, "not_found")
            #expect(try await api.snapshot() == before)
        }
    }

    // MARK: Retire, reinstate, delete

    @Test func retireAndReinstateFollowTheLifecycle() async throws {
        try await withAPI { api in
            _ = try await api.createAgent(["id": "agent_cycle", "name": "Cycle"])
            let retired = try await api.post("/api/v1/agent/agent_cycle/retire").details()
            #expect(retired["status"] == "retired")
            #expect(retired["available_actions"] == ["update": false, "retire": false, "reinstate": true, "delete": true])

            let snapshot = try await api.snapshot()
            try await api.post("/api/v1/agent/agent_cycle/retire", [:]).expectError(409, "invalid_action")
            try await api.put("/api/v1/agent/agent_cycle", ["details": ["name": "Renamed"]]).expectError(409, "invalid_action")
            try await api.post("/api/v1/agent_instance/register", ["agent_version": [:], "agent_id": "agent_cycle"]).expectError(
                409, "invalid_action")
            #expect(try await api.snapshot() == snapshot)

            let reinstated = try await api.post("/api/v1/agent/agent_cycle/reinstate", ["idempotency_key": "reinstate-1"])
                .details()
            #expect(reinstated["status"] == "active")
            #expect(reinstated["available_actions"] == ["update": true, "retire": true, "reinstate": false, "delete": true])
            try await api.post("/api/v1/agent/agent_cycle/reinstate").expectError(409, "invalid_action")
            _ = try await api.register(["agent_id": "agent_cycle"])
        }
    }

    @Test(arguments: ["retire", "reinstate"])
    func transitionsOfAnUnknownAgentAreNotFound(action: String) async throws {
        try await withAPI { api in
            try await api.post("/api/v1/agent/agent_missing/\(action)").expectError(404, "not_found")
        }
    }

    @Test(arguments: [nil, API.Body.text("{}"), .json(["idempotency_key": "delete-key-1"])])
    func deleteRemovesAnAgentWithoutInstances(body: API.Body?) async throws {
        try await withAPI { api in
            let created = try await api.createAgent(["id": "agent_gone", "name": "Gone"])
            let deleted = try await api.send(.DELETE, "/api/v1/agent/agent_gone", body: body).details()
            #expect(deleted["id"] == created["id"])
            #expect(deleted["name"] == "Gone")
            try await api.get("/api/v1/agent/agent_gone").expectError(404, "not_found")
            #expect(try await api.get("/api/v1/agent").summaries().map { $0["id"] } == ["agent_local"])
            try await api.delete("/api/v1/agent/agent_gone").expectError(404, "not_found")
        }
    }

    @Test func deleteRefusesAgentsWithInstancesAndTheDefaultAgent() async throws {
        try await withAPI { api in
            _ = try await api.createAgent(["id": "agent_busy", "name": "Busy"])
            _ = try await api.register(["agent_id": "agent_busy"])
            let before = try await api.snapshot()
            try await api.delete("/api/v1/agent/agent_busy").expectError(409, "invalid_action")
            try await api.delete("/api/v1/agent/agent_local").expectError(409, "invalid_action")
            #expect(try await api.snapshot() == before)
        }
    }
}
