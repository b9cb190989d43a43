import Foundation
import PrefactorCore
import PrefactorHTTP
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire

/// A core client configuration for a test server, with short delays so tests never wait long.
func coreConfiguration(
    _ server: TestServer, workers: Int = 3, mode: PrefactorClient.SpanStartMode = .queued,
    drainTimeout: Duration = .seconds(60), maxDeliveryAttempts: Int? = nil, coalesce: Bool? = nil, bulkMaxItems: Int = 0
) -> PrefactorClient.Configuration {
    var api = APIClient.Configuration(apiURL: server.baseURL, apiToken: server.token)
    api.retryPolicy = RetryPolicy(maxRetries: 0, initialDelay: .milliseconds(2), maxDelay: .milliseconds(20))
    api.requestTimeout = .seconds(5)
    var configuration = PrefactorClient.Configuration(
        api: api, workers: workers, spanStartMode: mode, maxDeliveryAttempts: maxDeliveryAttempts,
        drainTimeout: drainTimeout, terminationPollInterval: .milliseconds(100), maintenanceInterval: .milliseconds(20))
    if let coalesce { configuration.coalesceSpanFinishes = coalesce }
    // Off unless a test asks for it: most tests check each operation's own request on the wire; the bulk tests and
    // the property test turn it on.
    configuration.bulkMaxItems = bulkMaxItems
    return configuration
}

/// A plain API client for checking what the server stored.
func inspector(_ server: TestServer) throws -> APIClient {
    try APIClient(configuration: .init(apiURL: server.baseURL, apiToken: server.token, retryPolicy: .none))
}

/// Every span the server holds for an instance.
func serverSpans(_ server: TestServer, instanceID: String) async throws -> [AgentSpan] {
    let client = try inspector(server)
    var spans: [AgentSpan] = []
    var offset = 0
    while true {
        let page = try await client.listSpans(instanceID: instanceID, page: PageRequest(offset: offset, pageSize: 100))
        spans += page.items
        guard let next = page.pagination?.nextPageOffset else { break }
        offset = next
    }
    return spans
}

let testAgentVersion: [String: JSONValue] = ["name": "test-agent", "external_identifier": "test-agent-1"]
