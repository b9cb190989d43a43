import Foundation
import Testing

@testable import PrefactorWire

/// The UUID v4 text of generated keys, written from raw bits.
struct IdempotencyKeyFormatTests {
    @Test func versionAndVariantBitsAreSetAndTheRestKept() {
        #expect(IdempotencyKey.format(high: 0, low: 0) == "00000000-0000-4000-8000-000000000000")
        #expect(IdempotencyKey.format(high: .max, low: .max) == "ffffffff-ffff-4fff-bfff-ffffffffffff")
    }

    /// Each bit lands where Foundation's UUID puts the same byte (big-endian).
    @Test func matchesFoundationsTextForTheSameBytes() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let key = IdempotencyKey.format(high: generator.next(), low: generator.next())
            let uuid = try #require(UUID(uuidString: key))
            #expect(uuid.uuidString.lowercased() == key)
        }
        let high: UInt64 = 0x0123_4567_89AB_CDEF
        let low: UInt64 = 0x0FED_CBA9_8765_4321
        #expect(IdempotencyKey.format(high: high, low: low) == "01234567-89ab-4def-8fed-cba987654321")
    }
}
