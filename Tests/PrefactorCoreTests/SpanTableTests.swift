import Testing

@testable import PrefactorCore

@Suite("The span table")
struct SpanTableTests {
    @Test(
        "only canonical machine ids have a number",
        arguments: [
            ("span-1", UInt64?.some(1)), ("span-0", 0), ("span-42", 42), ("span-18446744073709551615", nil),
            ("span-1844674407370955161", 1_844_674_407_370_955_161), ("span-07", nil), ("span-+7", nil), ("span-", nil),
            ("span-7a", nil), ("span--7", nil), ("Span-7", nil), ("spa", nil), ("", nil), ("0b9f4c", nil),
            ("span-٣", nil),
        ])
    func numbers(id: String, expected: UInt64?) {
        #expect(SpanTable<Int>.number(of: id) == expected)
    }

    @Test("a number never stands for two ids: span-7 and span-07 are different spans")
    func canonicalIDsDoNotCollide() {
        var table = SpanTable<String>()
        table["span-7"] = "seven"
        table["span-07"] = "oh-seven"
        #expect(table["span-7"] == "seven")
        #expect(table["span-07"] == "oh-seven")
        #expect(table.count == 2)
    }

    @Test("a change through optional chaining lands in the table, and removing counts down")
    func modifyInPlace() {
        var table = SpanTable<[Int]>()
        table["span-3"] = [1]
        table["span-3"]?.append(2)
        table["other"] = [9]
        table["other"]?.append(10)
        table["span-4"]?.append(5)  // absent: nothing happens
        #expect(table["span-3"] == [1, 2])
        #expect(table["other"] == [9, 10])
        #expect(table["span-4"] == nil)
        #expect(table.count == 2)
        table["span-3"] = nil
        table["other"] = nil
        #expect(table.count == 0)
        #expect(table["span-3"] == nil)
    }

    @Test("a number far past the array, or below it, is kept all the same")
    func farNumbers() {
        var table = SpanTable<Int>()
        table["span-1000"] = 1
        table["span-5"] = 2
        table["span-1000000000"] = 3
        table["span-1001"] = 4
        #expect(table["span-1000"] == 1)
        #expect(table["span-5"] == 2)
        #expect(table["span-1000000000"] == 3)
        #expect(table["span-1001"] == 4)
        #expect(table.count == 4)
    }

    @Test("random inserts, changes and removals read back as a dictionary's would", arguments: [1, 2, 3, 4] as [UInt64])
    func agreesWithADictionary(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        var table = SpanTable<Int>()
        var reference: [String: Int] = [:]
        for step in 0..<5_000 {
            let id: String
            switch random.next() % 4 {
            case 0: id = "span-\(random.next() % 3_000)"
            case 1: id = "span-\(random.next() % 100_000)"
            case 2: id = "span-0\(random.next() % 50)"
            default: id = "other-\(random.next() % 200)"
            }
            switch random.next() % 3 {
            case 0:
                table[id] = step
                reference[id] = step
            case 1:
                table[id]? += 1
                reference[id]? += 1
            default:
                table[id] = nil
                reference[id] = nil
            }
            #expect(table[id] == reference[id])
        }
        #expect(table.count == reference.count)
        for (id, value) in reference { #expect(table[id] == value) }
    }

    @Test("values come in number order, then the other ids in the order they were added")
    func valuesInOrder() {
        var table = SpanTable<String>()
        table["span-3"] = "three"
        table["zeta"] = "zeta"
        table["span-1000000000"] = "far"
        table["span-2"] = "two"  // below the array: kept aside, after it
        table["span-4"] = "four"
        table["alpha"] = "alpha"
        #expect(table.values == ["three", "four", "zeta", "far", "two", "alpha"])
    }
}
