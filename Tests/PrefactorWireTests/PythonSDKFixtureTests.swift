import Foundation
import PrefactorWire
import Testing

/// The Swift request bodies, built from the values the official Python SDK sent and encoded the way the client
/// encodes them, are the same JSON as the Python SDK's (spec §3, §1.3, §1.5).
struct PythonSDKFixtureTests {
    /// Builds the Swift request value equivalent to a fixture request, reading only the fixture's values; the
    /// shape of the JSON (wrapping, omitted keys, timestamp format) comes from the Swift types.
    static func swiftRequest(for request: FixtureRequest) throws -> any Encodable {
        let body = try #require(request.body.objectValue, "fixture body of \(request.testDescription) is an object")
        func string(_ object: [String: JSONValue], _ key: String) -> String? { object[key]?.stringValue }
        func object(_ object: [String: JSONValue], _ key: String) -> [String: JSONValue]? { object[key]?.objectValue }
        func date(_ object: [String: JSONValue], _ key: String) throws -> Date? {
            try object[key]?.stringValue.map(PythonSDKFixture.date)
        }
        func finishStatus(_ object: [String: JSONValue]) throws -> FinishStatus? {
            try string(object, "status").map { try #require(FinishStatus(rawValue: $0)) }
        }

        switch try #require(request.kind) {
        case .ping:
            throw PythonSDKFixture.LoadError(description: "ping has no body")
        case .register:
            return RegisterAgentInstanceRequest(
                agentVersion: try #require(object(body, "agent_version")),
                agentSchemaVersion: try #require(object(body, "agent_schema_version")),
                updateCurrentVersion: try Self.bool(body, "update_current_version"),
                agentID: string(body, "agent_id"), environmentID: string(body, "environment_id"), id: string(body, "id"),
                idempotencyKey: string(body, "idempotency_key"),
                purpose: try string(body, "purpose").map { try #require(InstancePurpose(rawValue: $0)) },
                externalIdentifier: string(body, "external_identifier"))
        case .instanceStart:
            return StartAgentInstanceRequest(
                timestamp: try date(body, "timestamp"), idempotencyKey: string(body, "idempotency_key"))
        case .spanCreateRoot, .spanCreateChild, .spanCreatePending:
            let details = try #require(object(body, "details"))
            return CreateSpanRequest(
                agentInstanceID: try #require(string(details, "agent_instance_id")),
                schemaName: try #require(string(details, "schema_name")),
                status: try #require(string(details, "status").flatMap(AgentStatus.init(rawValue:))),
                payload: try #require(object(details, "payload")), resultPayload: object(details, "result_payload"),
                id: string(details, "id"), parentSpanID: string(details, "parent_span_id"),
                startedAt: try date(details, "started_at"), finishedAt: try date(details, "finished_at"),
                idempotencyKey: string(details, "idempotency_key"))
        case .spanFinishWithResult, .spanFinishWithoutResult, .spanFinishWithoutTimestamp:
            return FinishSpanRequest(
                status: try finishStatus(body), resultPayload: object(body, "result_payload"),
                timestamp: try date(body, "timestamp"), idempotencyKey: string(body, "idempotency_key"))
        case .recordQuality:
            return RecordQualityRequest(
                name: try #require(string(body, "name")), payload: object(body, "payload"),
                idempotencyKey: string(body, "idempotency_key"))
        case .instanceFinish:
            return FinishAgentInstanceRequest(
                status: try finishStatus(body), timestamp: try date(body, "timestamp"),
                idempotencyKey: string(body, "idempotency_key"))
        }
    }

    static func bool(_ object: [String: JSONValue], _ key: String) throws -> Bool {
        guard let value = object[key]?.boolValue else {
            throw PythonSDKFixture.LoadError(description: "\(key) is not a Boolean")
        }
        return value
    }

    static func encodeLikeTheClient(_ value: any Encodable) throws -> JSONValue {
        try JSONValue(parsing: WireCoding.encoder(style: .python).encode(value))
    }

    @Test func fixtureHoldsEveryRequestKindAndNothingElse() throws {
        let requests = try PythonSDKFixture.load()
        #expect(requests.count == 29)
        for request in requests {
            #expect(request.kind != nil, "unclassified fixture request \(request.testDescription)")
        }
        for kind in FixtureRequestKind.allCases {
            #expect(requests.contains { $0.kind == kind }, "the fixture has no \(kind) request")
        }
    }

    @Test(arguments: FixtureRequestKind.allCases.filter { $0 != .ping })
    func swiftBodyEqualsPythonBody(kind: FixtureRequestKind) throws {
        let requests = try PythonSDKFixture.requests(kind)
        try #require(!requests.isEmpty)
        for request in requests {
            let swift = try Self.encodeLikeTheClient(try Self.swiftRequest(for: request))
            #expect(swift == request.body, "\(request.testDescription)\nswift:  \(swift)\npython: \(request.body)")
        }
    }

    @Test(arguments: [FixtureRequestKind.instanceStart, .instanceFinish, .spanFinishWithResult, .spanFinishWithoutResult])
    func timestampsAreWrittenExactlyAsPythonWritesThem(kind: FixtureRequestKind) throws {
        for request in try PythonSDKFixture.requests(kind) {
            let expected = try #require(request.body["timestamp"]?.stringValue)
            let swift = try Self.encodeLikeTheClient(try Self.swiftRequest(for: request))
            let written = try #require(swift["timestamp"]?.stringValue)
            #expect(written == expected)
            #expect(written.hasSuffix("+00:00"))
            let fraction = try #require(written.split(separator: ".").last)
            #expect(fraction.count == "123456+00:00".count, "microseconds in \(written)")
        }
    }

    @Test func cancelWithoutTimestampCarriesNoTimestampKey() throws {
        for request in try PythonSDKFixture.requests(.spanFinishWithoutTimestamp) {
            let swift = try Self.encodeLikeTheClient(try Self.swiftRequest(for: request))
            let keys = Set(try #require(swift.objectValue).keys)
            #expect(keys == ["status", "idempotency_key"])
            #expect(swift["status"] == "cancelled")
        }
    }

    @Test func spanCreatePlacesTheIdempotencyKeyInsideDetails() throws {
        for kind in [FixtureRequestKind.spanCreateRoot, .spanCreateChild, .spanCreatePending] {
            for request in try PythonSDKFixture.requests(kind) {
                let swift = try Self.encodeLikeTheClient(try Self.swiftRequest(for: request))
                #expect(Set(try #require(swift.objectValue).keys) == ["details"])
                #expect(swift["details"]?["idempotency_key"]?.stringValue != nil)
            }
        }
    }

    @Test func rootSpanCreateOmitsParentAndTimes() throws {
        for request in try PythonSDKFixture.requests(.spanCreateRoot) {
            let swift = try Self.encodeLikeTheClient(try Self.swiftRequest(for: request))
            let details = try #require(swift["details"]?.objectValue)
            for absent in ["parent_span_id", "started_at", "finished_at", "result_payload", "id"] {
                #expect(details[absent] == nil, "\(absent) must be absent, not null")
            }
        }
    }

    @Test func pythonSDKSendsItsHeadersOnEveryRequest() throws {
        for request in try PythonSDKFixture.load() {
            #expect(request.headers["Authorization"]?.stringValue?.hasPrefix("Bearer ") == true)
            #expect(request.headers["X-Prefactor-SDK"]?.stringValue?.isEmpty == false)
            #expect(request.headers["Content-Type"] == "application/json")
        }
        for request in try PythonSDKFixture.requests(.ping) {
            #expect(request.body == .null, "GET carries no body")
        }
    }
}
