import DequeModule

/// A table keyed by increasing operation ids, stored densely: no hashing, one slot per id between the oldest
/// live id and the newest. Operation ids are handed out in order and settle roughly in order, so the table stays
/// compact; memory per operation is the size of the value.
struct DenseTable<Value> {
    private var base: UInt64 = 1
    private var slots = Deque<Value?>()
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    subscript(id: UInt64) -> Value? {
        get {
            guard id >= base, id - base < UInt64(slots.count) else { return nil }
            return slots[Int(id - base)]
        }
        set {
            if slots.isEmpty && count == 0 && newValue != nil { base = id }
            guard id >= base else {
                guard newValue != nil else { return }
                // An id below the window (not expected): grow the window at the front.
                for _ in 0..<(base - id) { slots.prepend(nil) }
                base = id
                self[id] = newValue
                return
            }
            let index = Int(id - base)
            while slots.count <= index {
                guard newValue != nil else { return }
                slots.append(nil)
            }
            let had = slots[index] != nil
            slots[index] = newValue
            count += (newValue != nil ? 1 : 0) - (had ? 1 : 0)
            while let first = slots.first, first == nil {
                slots.removeFirst()
                base += 1
            }
            if slots.isEmpty { base = id + 1 }
        }
    }

    @discardableResult
    mutating func removeValue(forKey id: UInt64) -> Value? {
        let value = self[id]
        if value != nil { self[id] = nil }
        return value
    }

    /// The live entries in id order.
    var entries: [(key: UInt64, value: Value)] {
        var result: [(key: UInt64, value: Value)] = []
        result.reserveCapacity(count)
        for (offset, slot) in slots.enumerated() {
            if let value = slot { result.append((base + UInt64(offset), value)) }
        }
        return result
    }

    /// The live values in id order.
    var values: [Value] { slots.compactMap { $0 } }
}
extension DenseTable: Sendable where Value: Sendable {}
