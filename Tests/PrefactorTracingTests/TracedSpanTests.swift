import PrefactorCore
import PrefactorWire
import Testing
import Tracing

@testable import PrefactorTracing

/// The mapping rules of one span, without a client.
@Suite struct TracedSpanTests {
    struct Boom: Error {}

    private func span(parentID: String? = "00f067aa0ba902b7") -> TracedSpan {
        TracedSpan(
            operationName: "GET", kind: .client, traceID: "4bf92f3577b34da6a3ce929d0e0e4736", spanID: "b7ad6b7169203331",
            parentID: parentID)
    }

    struct Described: CustomStringConvertible, Sendable {
        var description: String { "described" }
    }

    static let attributeCases: [(SpanAttribute, JSONValue)] = [
        (.int32(7), 7), (.int64(-3), -3), (.double(1.5), 1.5), (.double(.nan), "nan"), (.double(-.infinity), "-inf"),
        (.bool(true), true), (.string("text"), "text"), (.int32Array([1, 2]), [1, 2]), (.int64Array([3]), [3]),
        (.doubleArray([0.5, .infinity]), [0.5, "inf"]), (.boolArray([false]), [false]), (.stringArray(["a", "b"]), ["a", "b"]),
        (.stringConvertible(Described()), "described"), (.stringConvertibleArray([Described()]), ["described"]),
    ]

    @Test(arguments: attributeCases)
    func anAttributeBecomesJSON(attribute: SpanAttribute, json: JSONValue) {
        #expect(TracedSpan.json(attribute) == json)
    }

    static let statusCases: [(status: [SpanStatus.Code], error: (any Error)?, expected: FinishStatus)] = [
        ([], nil, .complete), ([.ok], nil, .complete), ([.error], nil, .failed), ([], Boom(), .failed),
        ([.ok], Boom(), .complete), ([.ok, .error], nil, .complete), ([.error, .ok], nil, .complete),
        ([], CancellationError(), .cancelled), ([.error], CancellationError(), .cancelled),
    ]

    @Test(arguments: statusCases.indices)
    func theStatusAndErrorsDecideHowTheSpanFinishes(index: Int) {
        let testCase = Self.statusCases[index]
        var span = span()
        for code in testCase.status { span.setStatus(SpanStatus(code: code)) }
        if let error = testCase.error { span.recordError(error) }
        #expect(span.finishStatus == testCase.expected, "status \(testCase.status), error \(String(describing: testCase.error))")
    }

    @Test func theCreateCarriesTheNameKindTraceAndAttributes() {
        var span = span()
        span.attributes["http.request.method"] = "GET"
        span.attributes["server.port"] = 8080
        let create = span.takeCreate(defaultSchemaName: "agent:span")
        #expect(create.schemaName == "agent:span")
        #expect(
            create.payload == [
                "name": "GET", "kind": "client",
                "trace": [
                    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "b7ad6b7169203331",
                    "parent_id": "00f067aa0ba902b7",
                ],
                "attributes": ["http.request.method": "GET", "server.port": 8080],
            ])
    }

    @Test func aRootSpanWithoutAttributesHasNeither() {
        var root = span(parentID: nil)
        let payload = root.takeCreate(defaultSchemaName: "agent:span").payload
        #expect(payload["trace"]?.objectValue?["parent_id"] == nil)
        #expect(payload["attributes"] == nil)
    }

    @Test func theSchemaNameAttributeNamesTheSpanTypeAndStaysOutOfThePayloads() {
        var span = span()
        span.attributes[TracedSpan.schemaNameAttribute] = "agent:llm"
        let create = span.takeCreate(defaultSchemaName: "agent:span")
        #expect(create.schemaName == "agent:llm")
        #expect(create.payload["attributes"] == nil)
        #expect(span.result.isEmpty)
    }

    @Test func theResultHoldsOnlyWhatChangedAfterTheCreate() {
        var span = span()
        span.attributes["http.request.method"] = "GET"
        span.attributes["url.path"] = "/a"
        _ = span.takeCreate(defaultSchemaName: "agent:span")
        #expect(span.result.isEmpty)
        span.attributes["url.path"] = "/b"
        span.attributes["http.status_code"] = 200
        span.operationName = "/users/{id}"
        #expect(span.result == ["attributes": ["url.path": "/b", "http.status_code": 200], "name": "/users/{id}"])
    }

    @Test func aSpanEndedBeforeItsCreateHasEveryAttributeInThePayloadOnly() {
        var span = span()
        span.attributes["rows"] = 3
        span.operationName = "renamed"
        let payload = span.takeCreate(defaultSchemaName: "agent:span").payload
        #expect(payload["name"] == "renamed")
        #expect(payload["attributes"] == ["rows": 3])
        #expect(span.result.isEmpty)
    }

    @Test func theResultCarriesTheErrorTheStatusMessageAndEvents() {
        var span = span()
        _ = span.takeCreate(defaultSchemaName: "agent:span")
        span.addEvent(SpanEvent(name: "retry", at: DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: 1_500_000_000)))
        span.addEvent(SpanEvent(name: "done", at: DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: 0), attributes: ["n": 2]))
        span.recordError(Boom())
        span.setStatus(SpanStatus(code: .error, message: "upstream refused"))
        #expect(
            span.result == [
                "error": "Boom()", "error_type": "Boom", "status_message": "upstream refused",
                "events": [
                    ["name": "retry", "at": "1970-01-01T00:00:01.500000Z"],
                    ["name": "done", "at": "1970-01-01T00:00:00.000000Z", "attributes": ["n": 2]],
                ],
            ])
    }
}
