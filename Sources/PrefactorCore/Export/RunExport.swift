import Foundation
import PrefactorHTTP
import PrefactorWire

/// A run and all its spans as the API has them: what `prefactor export` and the terminal UI's `E` write.
///
/// The JSON has the wire shapes of the API (`snake_case` keys, ISO 8601 timestamps), so a tool that reads the
/// API's answers reads an export too:
///
/// ```json
/// {"format": "prefactor.run-export.v1", "exported_at": "...", "api_url": "...",
///  "instance": {...}, "span_count": 2, "spans": [{...}, {...}]}
/// ```
public struct RunExport: Codable, Sendable, Hashable {
    /// The format's name and version.
    public static let formatName = "prefactor.run-export.v1"

    /// ``formatName``.
    public var format: String
    /// When the export was made.
    public var exportedAt: Date
    /// The API it came from.
    public var apiURL: String
    /// The run.
    public var instance: AgentInstance
    /// Every span of the run, by start time (spans never started last), then id.
    public var spans: [AgentSpan]

    /// Spans per page when reading them (the API's most).
    public static let pageSize = 100

    enum CodingKeys: String, CodingKey {
        case format, instance, spans
        case exportedAt = "exported_at"
        case apiURL = "api_url"
        case spanCount = "span_count"
    }

    /// Creates an export.
    public init(exportedAt: Date, apiURL: String, instance: AgentInstance, spans: [AgentSpan]) {
        format = Self.formatName
        self.exportedAt = exportedAt
        self.apiURL = apiURL
        self.instance = instance
        self.spans = spans.sorted { lhs, rhs in
            switch (lhs.startedAt, rhs.startedAt) {
            case (let l?, let r?) where l != r: return l < r
            case (.some, nil): return true
            case (nil, .some): return false
            default: return lhs.id < rhs.id
            }
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        format = try container.decode(String.self, forKey: .format)
        exportedAt = try container.decode(Date.self, forKey: .exportedAt)
        apiURL = try container.decode(String.self, forKey: .apiURL)
        instance = try container.decode(AgentInstance.self, forKey: .instance)
        spans = try container.decode([AgentSpan].self, forKey: .spans)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(format, forKey: .format)
        try container.encode(exportedAt, forKey: .exportedAt)
        try container.encode(apiURL, forKey: .apiURL)
        try container.encode(instance, forKey: .instance)
        try container.encode(spans.count, forKey: .spanCount)
        try container.encode(spans, forKey: .spans)
    }

    /// Reads a run and every page of its spans from the API.
    ///
    /// - Parameters:
    ///   - instanceID: The run.
    ///   - api: The API client.
    ///   - apiURL: The API's address, recorded in the export.
    ///   - now: The export's time.
    /// - Throws: ``PrefactorHTTPError`` (``PrefactorHTTPError/Code/notFound`` when the API has no such run).
    public static func fetch(
        instanceID: String, from api: APIClient, apiURL: String, now: Date = Date()
    ) async throws(PrefactorHTTPError) -> RunExport {
        let instance = try await api.agentInstance(id: instanceID)
        var spans: [AgentSpan] = []
        var seen = Set<String>()
        var offset = 0
        // Pages by id, so that spans changing meanwhile do not move between pages.
        while true {
            let page = try await api.listSpans(
                instanceID: instanceID, page: PageRequest(offset: offset, pageSize: pageSize, sorting: "id"))
            for span in page.items where seen.insert(span.id).inserted { spans.append(span) }
            guard let next = page.pagination?.nextPageOffset, next > offset, !page.items.isEmpty else { break }
            offset = next
        }
        return RunExport(exportedAt: now, apiURL: apiURL, instance: instance, spans: spans)
    }

    /// The export as pretty-printed JSON, keys sorted.
    public func jsonData() throws -> Data {
        let encoder = WireCoding.encoder(style: .zulu)
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self) + Data("\n".utf8)
    }

    /// Reads an export's JSON.
    public static func decode(_ data: Data) throws -> RunExport {
        try WireCoding.decoder.decode(RunExport.self, from: data)
    }

    /// A file name for an export of a run at a time: `prefactor-run-ID-20260101T120000Z.json`.
    public static func fileName(instanceID: String, at date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let safe = String(instanceID.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
        return "prefactor-run-\(safe)-\(formatter.string(from: date)).json"
    }
}
