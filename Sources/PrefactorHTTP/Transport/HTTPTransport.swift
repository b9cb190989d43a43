/// One HTTP request as the client sends it.
public struct HTTPRequestSpec: Sendable {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    public var method: String
    /// The full URL.
    public var url: String
    /// Header fields, in order.
    public var headers: [(String, String)]
    /// The body, if any.
    public var body: [UInt8]?

    /// Creates a request.
    public init(method: String, url: String, headers: [(String, String)], body: [UInt8]?) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// One HTTP response.
public struct HTTPResponseData: Sendable {
    /// The status code.
    public var status: Int
    /// The body.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
    }
}

/// The seam between the API client and the network.
///
/// ``AsyncHTTPClientTransport`` is the real implementation; tests of pure logic may substitute their own.
public protocol HTTPTransport: Sendable {
    /// Sends one request and returns its response.
    ///
    /// - Parameters:
    ///   - request: The request.
    ///   - timeout: The time limit of this attempt.
    /// - Returns: The response, whatever its status.
    /// - Throws: ``PrefactorHTTPError`` with code ``PrefactorHTTPError/Code/transport`` or
    ///   ``PrefactorHTTPError/Code/timeout`` when no response arrives.
    func send(_ request: HTTPRequestSpec, timeout: Duration) async throws(PrefactorHTTPError) -> HTTPResponseData

    /// Releases the transport's resources.
    func shutdown() async throws
}
