import PrefactorWire

extension APIClient {
    /// Runs many actions in one request: `POST /api/v1/bulk`, in the official Python SDK's dialect (spec §3.9).
    ///
    /// The server runs the items in order, each in its own transaction, and stops at the first that fails: that
    /// item's output has status ``BulkOutput/Status/error`` and the items after it have no output. A repeated
    /// request replays the items that succeeded (each item's idempotency key works as in its own request).
    ///
    /// ```swift
    /// let response = try await client.executeBulk(BulkRequest(items: [
    ///     .registerAgentInstance(RegisterAgentInstanceRequest(id: "ai_1"), idempotencyKey: "register-ai_1"),
    ///     .createSpan(CreateSpanRequest(agentInstanceID: "ai_1", schemaName: "agent:llm"), idempotencyKey: "span-1"),
    /// ]))
    /// let span = try response.outputs["span-1"]?.details(as: AgentSpan.self)
    /// ```
    ///
    /// - Parameter request: The items.
    /// - Returns: The outputs, keyed by the items' idempotency keys.
    /// - Throws: ``PrefactorHTTPError``: ``PrefactorHTTPError/Code/invalidRequest`` before sending when the request
    ///   has no items, or a key that is not 8 to 64 characters long or repeats; ``PrefactorHTTPError/Code/validation``
    ///   when the server rejects the request; ``PrefactorHTTPError/Code/responseContract`` when an output's status is
    ///   neither `success` nor `error`.
    public func executeBulk(_ request: BulkRequest) async throws(PrefactorHTTPError) -> BulkResponse {
        let operation = "bulk.execute"
        if let problem = request.problem {
            throw PrefactorHTTPError(code: .invalidRequest, message: problem, operation: operation)
        }
        let object = try await send("POST", "/api/v1/bulk", body: encode(request, operation: operation), operation: operation)
        return try Self.decode(BulkResponse.self, from: .object(object), operation: operation)
    }
}
