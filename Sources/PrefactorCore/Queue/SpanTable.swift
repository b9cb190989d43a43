/// Values keyed by local span id, for ids the machine hands out in order ("span-1", "span-2", …): those live in an
/// array indexed by their number, with no hashing and no key stored, so a span costs the size of its value. Any other
/// id (and a number far from the array's window, as a restored file may hold) lives in a dictionary.
///
/// A dictionary of 50,000 spans keeps 131,072 buckets of key and value, every page of them touched by hashing;
/// the array keeps 50,000 values.
struct SpanTable<Value> {
    /// The number of the array's first slot.
    private var base: UInt64 = 0
    private var dense: [Value?] = []
    private var others: [String: Value] = [:]
    /// The ids put in the dictionary, in the order they were put there.
    private var otherOrder: [String] = []
    /// How far past the array's end a new number may land and still be stored in it (the gap is filled with
    /// empty slots).
    static var maxGap: UInt64 { 1_024 }

    /// How many values the table holds.
    private(set) var count = 0

    /// The number of a canonical machine id ("span-" then digits, no leading zero), or `nil` for any other id.
    static func number(of id: String) -> UInt64? {
        var utf8 = id.utf8[...]
        for byte in "span-".utf8 {
            guard utf8.first == byte else { return nil }
            utf8 = utf8.dropFirst()
        }
        guard let first = utf8.first, first != UInt8(ascii: "0") || utf8.count == 1, utf8.count <= 19 else { return nil }
        var value: UInt64 = 0
        for byte in utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + UInt64(byte - UInt8(ascii: "0"))
        }
        return value
    }

    /// The array slot of an id already in the array's window, or `nil`.
    private func slot(_ number: UInt64) -> Int? {
        guard number >= base, number - base < UInt64(dense.count) else { return nil }
        return Int(number - base)
    }

    /// The array slot holding an id's value, or `nil`. An id put in the dictionary while its number was outside the
    /// array's window stays there when the window later grows over it (its slot stays empty), so every id has one
    /// place.
    private func heldSlot(_ id: String) -> Int? {
        guard let number = Self.number(of: id), let index = slot(number), dense[index] != nil else { return nil }
        return index
    }

    /// The array slot for an id, growing the array when its number lands at or shortly past the end (or starts an
    /// empty array); `nil` when the id belongs in the dictionary.
    private mutating func placeSlot(_ id: String) -> Int? {
        guard let number = Self.number(of: id) else { return nil }
        if let index = slot(number) { return index }
        if dense.isEmpty {
            base = number
            dense.append(nil)
            return 0
        }
        guard number >= base, number - base - UInt64(dense.count) <= Self.maxGap else { return nil }
        while UInt64(dense.count) <= number - base { dense.append(nil) }
        return Int(number - base)
    }

    subscript(id: String) -> Value? {
        get {
            if let index = heldSlot(id) { return dense[index] }
            return others.isEmpty ? nil : others[id]
        }
        set {
            if let index = heldSlot(id) {
                if newValue == nil { count -= 1 }
                dense[index] = newValue
            } else if others[id] != nil {
                if newValue == nil { count -= 1 }
                others[id] = newValue
            } else if let newValue {
                count += 1
                if let index = placeSlot(id) {
                    dense[index] = newValue
                } else {
                    others[id] = newValue
                    otherOrder.append(id)
                }
            }
        }
        _modify {
            if let index = heldSlot(id) {
                // In place: the common case, a change to a span the table holds.
                yield &dense[index]
                if dense[index] == nil { count -= 1 }
            } else {
                var value = self[id]
                yield &value
                self[id] = value
            }
        }
    }

    /// The values: those of numbered ids in number order, then the others in the order they were added.
    var values: [Value] {
        dense.compactMap { $0 } + otherOrder.compactMap { others[$0] }
    }

    /// Makes room for at least `capacity` values.
    mutating func reserveCapacity(_ capacity: Int) {
        dense.reserveCapacity(capacity)
    }
}

extension SpanTable: Sendable where Value: Sendable {}
