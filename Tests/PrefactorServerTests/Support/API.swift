import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PrefactorServer
import PrefactorServerTesting
import PrefactorWire
import Testing

/// A raw HTTP client for one running test server: sends exactly the bytes a test asks for and hands back the status,
/// headers and body untouched, so tests can assert on the wire itself.
struct API: Sendable {
    /// The server under test.
    let server: TestServer

    /// A request body.
    enum Body: Sendable {
        /// A JSON value, serialized compactly.
        case json(JSONValue)
        /// Text sent as is (it need not be JSON).
        case text(String)
        /// Bytes sent as is, with a `Content-Length`.
        case bytes([UInt8])
        /// Bytes sent with `Transfer-Encoding: chunked` and no `Content-Length`.
        case chunked([UInt8])
    }

    /// What to put in the `Authorization` header.
    enum Authorization: Sendable {
        /// `Bearer <the server's token>`.
        case valid
        /// No header at all.
        case none
        /// This exact header value.
        case header(String)
    }

    init(_ server: TestServer) {
        self.server = server
    }

    /// Sends one request and reads the whole response.
    func send(
        _ method: HTTPMethod, _ path: String, body: Body? = nil, authorization: Authorization = .valid,
        headers: [(String, String)] = []
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: server.baseURL + path)
        request.method = method
        switch authorization {
        case .valid: request.headers.add(name: "Authorization", value: "Bearer \(server.token)")
        case .none: break
        case .header(let value): request.headers.add(name: "Authorization", value: value)
        }
        if body != nil { request.headers.add(name: "Content-Type", value: "application/json") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        switch body {
        case nil: break
        case .json(let value): request.body = .bytes(Array(JSONText.serialize(value).utf8))
        case .text(let text): request.body = .bytes(Array(text.utf8))
        case .bytes(let bytes): request.body = .bytes(bytes)
        case .chunked(let bytes): request.body = .bytes(bytes, length: .unknown)
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let buffer = try await response.body.collect(upTo: 16 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, bytes: Array(buffer.readableBytesView))
    }

    func get(_ path: String, authorization: Authorization = .valid) async throws -> Reply {
        try await send(.GET, path, authorization: authorization)
    }

    func post(_ path: String, _ json: JSONValue? = nil) async throws -> Reply {
        try await send(.POST, path, body: json.map(Body.json))
    }

    func put(_ path: String, _ json: JSONValue) async throws -> Reply {
        try await send(.PUT, path, body: .json(json))
    }

    func delete(_ path: String, _ json: JSONValue? = nil) async throws -> Reply {
        try await send(.DELETE, path, body: json.map(Body.json))
    }
}

/// One HTTP response as received.
struct Reply: Sendable, CustomStringConvertible {
    let status: Int
    let headers: HTTPHeaders
    let bytes: [UInt8]
    /// The body parsed as JSON, or `nil` when it is not JSON.
    let json: JSONValue?

    init(status: Int, headers: HTTPHeaders, bytes: [UInt8]) {
        self.status = status
        self.headers = headers
        self.bytes = bytes
        self.json = try? JSONValue(parsing: Data(bytes))
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    var description: String { "HTTP \(status) \(text.prefix(600))" }

    /// `details` of a success envelope; records an issue unless the reply is a 200 success envelope.
    func details(sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONValue {
        expectSuccess(sourceLocation: sourceLocation)
        return try #require(json?["details"], "no details in \(self)", sourceLocation: sourceLocation)
    }

    /// `summaries` of a list envelope.
    func summaries(sourceLocation: SourceLocation = #_sourceLocation) throws -> [JSONValue] {
        expectSuccess(sourceLocation: sourceLocation)
        return try #require(json?["summaries"]?.arrayValue, "no summaries in \(self)", sourceLocation: sourceLocation)
    }

    /// Expects 200, a JSON object body with `"status": "success"` and a JSON content type.
    func expectSuccess(sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(status == 200, "\(self)", sourceLocation: sourceLocation)
        #expect(json?["status"] == "success", "\(self)", sourceLocation: sourceLocation)
        #expect(headers.first(name: "Content-Type")?.hasPrefix("application/json") == true, sourceLocation: sourceLocation)
    }

    /// Expects the error envelope of spec §5.1 with this status and code.
    func expectError(_ status: Int, _ code: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(self.status == status, "\(self)", sourceLocation: sourceLocation)
        #expect(json?["status"] == "error", "\(self)", sourceLocation: sourceLocation)
        if let code {
            #expect(json?["code"] == .string(code), "\(self)", sourceLocation: sourceLocation)
        }
        #expect(json?["message"]?.stringValue?.isEmpty == false, "\(self)", sourceLocation: sourceLocation)
        #expect(headers.first(name: "Content-Type")?.hasPrefix("application/json") == true, sourceLocation: sourceLocation)
        if status == 422 {
            // Validation failures name each bad field with a list of messages (spec §5.1).
            let errors = json?["errors"]?.objectValue ?? [:]
            #expect(!errors.isEmpty, "\(self)", sourceLocation: sourceLocation)
            for (field, messages) in errors {
                let list = messages.arrayValue ?? []
                #expect(
                    !list.isEmpty && list.allSatisfy { $0.stringValue?.isEmpty == false }, "\(field): \(messages)",
                    sourceLocation: sourceLocation)
            }
        }
    }

    /// The field names of a validation error's `errors` object.
    var errorFields: Set<String> {
        Set(json?["errors"]?.objectValue?.keys.map { $0 } ?? [])
    }
}

/// Runs a real server for one test and hands the test an ``API`` for it. Unless `allowServerErrors`, also checks at
/// the end that the server never answered with a 5xx status: bad input must never cause a server error.
func withAPI<T: Sendable>(
    database: DatabaseLocation = .inMemory, faults: [FaultRule] = [], allowServerErrors: Bool = false,
    sourceLocation: SourceLocation = #_sourceLocation, _ body: (API) async throws -> T
) async throws -> T {
    try await withTestServer(database: database, faults: faults) { server in
        let result = try await body(API(server))
        if !allowServerErrors {
            let failures = server.requests.requests.filter { $0.status >= 500 || $0.status == 0 }
            #expect(failures.isEmpty, "the server answered with 5xx or dropped: \(failures)", sourceLocation: sourceLocation)
        }
        return result
    }
}

/// Percent-encodes a query value (including `+`, `[` and `]`).
func queryEncoded(_ text: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
}

/// `pagination[offset]=…&pagination[page_size]=…`, percent-encoded.
func pageQuery(offset: Int? = nil, size: Int? = nil) -> String {
    var parts: [String] = []
    if let offset { parts.append("pagination%5Boffset%5D=\(offset)") }
    if let size { parts.append("pagination%5Bpage_size%5D=\(size)") }
    return parts.joined(separator: "&")
}

/// Whether a timestamp is in the server's response style: UTC, `Z`, exactly six fractional digits.
func isZuluMicroseconds(_ value: JSONValue?) -> Bool {
    guard let text = value?.stringValue else { return false }
    return text.wholeMatch(of: #/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z/#) != nil
}

/// Expects two replies to be identical on the wire: same status and the same body, byte for byte.
func expectIdentical(
    _ actual: Reply, _ expected: Reply, _ comment: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
) {
    let note = comment.map { $0 + "\n" } ?? ""
    #expect(actual.status == expected.status, "\(note)got \(actual)\nexpected \(expected)", sourceLocation: sourceLocation)
    let same = actual.bytes == expected.bytes
    #expect(same, "\(note)got \(actual.text)\nexpected \(expected.text)", sourceLocation: sourceLocation)
}
