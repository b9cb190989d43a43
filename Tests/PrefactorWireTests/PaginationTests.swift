import Foundation
import PrefactorWire
import Testing

/// Pagination arithmetic (spec §1.4): `item_start`, `item_end`, `page_index` 1-based, `page_offset` 0-based.
struct PaginationTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var itemCount, offset, pageSize, itemsOnPage: Int
        var itemStart, itemEnd, pageCount, pageIndex: Int
        var next, previous: Int?
        var testDescription: String { "count \(itemCount), offset \(offset), size \(pageSize), on page \(itemsOnPage)" }
    }

    @Test(arguments: [
        // The spec's empty example.
        Case(itemCount: 0, offset: 0, pageSize: 20, itemsOnPage: 0, itemStart: 1, itemEnd: 0, pageCount: 1, pageIndex: 1),
        Case(itemCount: 1, offset: 0, pageSize: 20, itemsOnPage: 1, itemStart: 1, itemEnd: 1, pageCount: 1, pageIndex: 1),
        Case(itemCount: 20, offset: 0, pageSize: 20, itemsOnPage: 20, itemStart: 1, itemEnd: 20, pageCount: 1, pageIndex: 1),
        Case(
            itemCount: 21, offset: 0, pageSize: 20, itemsOnPage: 20, itemStart: 1, itemEnd: 20, pageCount: 2, pageIndex: 1,
            next: 20),
        Case(
            itemCount: 45, offset: 20, pageSize: 20, itemsOnPage: 20, itemStart: 21, itemEnd: 40, pageCount: 3,
            pageIndex: 2, next: 40, previous: 0),
        Case(
            itemCount: 45, offset: 40, pageSize: 20, itemsOnPage: 5, itemStart: 41, itemEnd: 45, pageCount: 3, pageIndex: 3,
            previous: 20),
        // An offset between pages.
        Case(
            itemCount: 45, offset: 10, pageSize: 20, itemsOnPage: 20, itemStart: 11, itemEnd: 30, pageCount: 3,
            pageIndex: 1, next: 30, previous: 0),
        // Past the end.
        Case(
            itemCount: 45, offset: 60, pageSize: 20, itemsOnPage: 0, itemStart: 61, itemEnd: 60, pageCount: 3, pageIndex: 4,
            previous: 40),
        Case(
            itemCount: 7, offset: 3, pageSize: 1, itemsOnPage: 1, itemStart: 4, itemEnd: 4, pageCount: 7, pageIndex: 4,
            next: 4, previous: 2),
        Case(
            itemCount: 250, offset: 200, pageSize: 100, itemsOnPage: 50, itemStart: 201, itemEnd: 250, pageCount: 3,
            pageIndex: 3, previous: 100),
    ])
    func arithmetic(_ c: Case) {
        let page = Pagination(itemCount: c.itemCount, offset: c.offset, pageSize: c.pageSize, itemsOnPage: c.itemsOnPage)
        #expect(page.itemCount == c.itemCount)
        #expect(page.pageSize == c.pageSize)
        #expect(page.pageOffset == c.offset)
        #expect(page.itemStart == c.itemStart)
        #expect(page.itemEnd == c.itemEnd)
        #expect(page.pageCount == c.pageCount)
        #expect(page.pageIndex == c.pageIndex)
        #expect(page.nextPageOffset == c.next)
        #expect(page.previousPageOffset == c.previous)
    }

    @Test func encodesEveryFieldWithNullOffsets() throws {
        let page = Pagination(itemCount: 0, offset: 0, pageSize: 20, itemsOnPage: 0)
        let value = try JSONValue(parsing: WireCoding.sortedEncoder.encode(page))
        #expect(
            value == [
                "item_count": 0, "item_start": 1, "item_end": 0, "page_count": 1, "page_index": 1, "page_offset": 0,
                "page_size": 20, "next_page_offset": nil, "previous_page_offset": nil,
            ])
        let back = try WireCoding.decoder.decode(Pagination.self, from: WireCoding.sortedEncoder.encode(page))
        #expect(back == page)
    }

    @Test func decodingRequiresTheCountFields() {
        let partial: JSONValue = ["item_count": 0, "item_start": 1]
        #expect(throws: DecodingError.self) {
            try WireCoding.decoder.decode(Pagination.self, from: WireCoding.sortedEncoder.encode(partial))
        }
    }
}
