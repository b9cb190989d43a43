/// The success envelope of a single resource (spec §1.4), with the optional span `control` block.
public struct SingleEnvelope<Details: Codable & Sendable>: Codable, Sendable {
    /// Always `"success"`.
    public var status: String
    /// The resource.
    public var details: Details
    /// The control block of span responses, kept raw so that a malformed block is ignored, not fatal.
    public var control: JSONValue?

    /// Creates an envelope.
    public init(details: Details, control: JSONValue? = nil) {
        self.status = "success"
        self.details = details
        self.control = control
    }

    enum CodingKeys: String, CodingKey {
        case status, details, control
    }

    /// Encodes the envelope, leaving `control` out when there is none.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(status, forKey: .status)
        try c.encode(details, forKey: .details)
        try c.encodeIfPresent(control, forKey: .control)
    }
}

/// Pagination of a list response (spec §1.4); `item_start`, `item_end` and `page_index` are 1-based.
public struct Pagination: Codable, Sendable, Hashable {
    /// Items matching the query, across all pages.
    public var itemCount: Int
    /// 1-based index of the first item on this page.
    public var itemStart: Int
    /// 1-based index of the last item on this page.
    public var itemEnd: Int
    /// Number of pages.
    public var pageCount: Int
    /// 1-based index of this page.
    public var pageIndex: Int
    /// 0-based offset of this page.
    public var pageOffset: Int
    /// Maximum items per page.
    public var pageSize: Int
    /// Offset of the next page, if any.
    public var nextPageOffset: Int?
    /// Offset of the previous page, if any.
    public var previousPageOffset: Int?

    /// Computes pagination for a page of a result.
    ///
    /// - Parameters:
    ///   - itemCount: Items matching the query.
    ///   - offset: 0-based offset of the page.
    ///   - pageSize: Maximum items per page.
    ///   - itemsOnPage: Items actually on this page.
    public init(itemCount: Int, offset: Int, pageSize: Int, itemsOnPage: Int) {
        self.itemCount = itemCount
        self.pageSize = pageSize
        self.pageOffset = offset
        self.itemStart = itemsOnPage == 0 ? (itemCount == 0 ? 1 : offset + 1) : offset + 1
        let pageSize = max(1, pageSize)
        self.itemEnd = offset.addingReportingOverflow(itemsOnPage).overflow ? Int.max : offset + itemsOnPage
        self.pageCount = max(1, itemCount / pageSize + (itemCount % pageSize == 0 ? 0 : 1))
        self.pageIndex = offset / pageSize + 1
        let (next, overflow) = offset.addingReportingOverflow(pageSize)
        self.nextPageOffset = !overflow && next < itemCount ? next : nil
        self.previousPageOffset = offset > 0 ? max(0, offset - pageSize) : nil
    }

    enum CodingKeys: String, CodingKey {
        case itemCount = "item_count"
        case itemStart = "item_start"
        case itemEnd = "item_end"
        case pageCount = "page_count"
        case pageIndex = "page_index"
        case pageOffset = "page_offset"
        case pageSize = "page_size"
        case nextPageOffset = "next_page_offset"
        case previousPageOffset = "previous_page_offset"
    }

    /// Encodes every field, writing `null` for absent page offsets as the spec requires.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(itemCount, forKey: .itemCount)
        try c.encode(itemStart, forKey: .itemStart)
        try c.encode(itemEnd, forKey: .itemEnd)
        try c.encode(pageCount, forKey: .pageCount)
        try c.encode(pageIndex, forKey: .pageIndex)
        try c.encode(pageOffset, forKey: .pageOffset)
        try c.encode(pageSize, forKey: .pageSize)
        try c.encode(nextPageOffset, forKey: .nextPageOffset)
        try c.encode(previousPageOffset, forKey: .previousPageOffset)
    }
}

/// The sort applied to a list response.
public struct Sorting: Codable, Sendable, Hashable {
    /// The field sorted on.
    public var field: String
    /// `asc` or `desc`.
    public var direction: String

    /// Creates a sorting description.
    public init(field: String, direction: String) {
        self.field = field
        self.direction = direction
    }
}

/// The list envelope (spec §1.4): `summaries`, `pagination` and `sorting` are always present.
public struct ListEnvelope<Item: Codable & Sendable>: Codable, Sendable {
    /// Always `"success"`.
    public var status: String
    /// The items on this page.
    public var summaries: [Item]
    /// Where this page lies in the result.
    public var pagination: Pagination?
    /// How the result is sorted.
    public var sorting: Sorting?

    /// Creates a list envelope.
    public init(summaries: [Item], pagination: Pagination?, sorting: Sorting?) {
        self.status = "success"
        self.summaries = summaries
        self.pagination = pagination
        self.sorting = sorting
    }

    enum CodingKeys: String, CodingKey {
        case status, summaries, pagination, sorting
    }

    /// Encodes all four keys, with `null` where pagination or sorting is absent.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(status, forKey: .status)
        try c.encode(summaries, forKey: .summaries)
        try c.encode(pagination, forKey: .pagination)
        try c.encode(sorting, forKey: .sorting)
    }
}

/// The error envelope (spec §5.1).
public struct ErrorEnvelope: Codable, Sendable, Hashable {
    /// Always `"error"`.
    public var status: String
    /// A machine-readable code such as `not_found` or `invalid_action`.
    public var code: String
    /// A human-readable message.
    public var message: String
    /// Field errors on validation failures: field name to a list of messages.
    public var errors: [String: JSONValue]?

    /// Creates an error envelope.
    public init(code: String, message: String, errors: [String: JSONValue]? = nil) {
        self.status = "error"
        self.code = code
        self.message = message
        self.errors = errors
    }

    enum CodingKeys: String, CodingKey {
        case status, code, message, errors
    }

    /// Encodes the envelope, leaving `errors` out when there are none.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(status, forKey: .status)
        try c.encode(code, forKey: .code)
        try c.encode(message, forKey: .message)
        try c.encodeIfPresent(errors, forKey: .errors)
    }
}
