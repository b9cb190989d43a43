import Foundation

/// Idempotency keys (spec §1.5): UUID v4 strings generated per operation, at most 64 characters.
public enum IdempotencyKey {
    /// The longest key the API accepts.
    public static let maximumLength = 64

    /// A fresh UUID v4 key in lowercase, as the official SDKs generate them.
    ///
    /// Written straight from 128 random bits (every span start and finish makes one, on the agent's path), rather than
    /// through `UUID().uuidString.lowercased()`, which builds and then re-cases a second string.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        return format(high: generator.next(), low: generator.next())
    }

    /// The UUID v4 text of 128 bits: the version and variant bits are set, the rest are kept.
    package static func format(high: UInt64, low: UInt64) -> String {
        String(unsafeUninitializedCapacity: 36) { buffer in
            write(high: high, low: low, into: buffer)
            return 36
        }
    }

    /// Appends the UUID v4 text of 128 bits (as ``format(high:low:)`` writes it) to UTF-8 bytes, without a `String`.
    package static func append(high: UInt64, low: UInt64, to bytes: inout [UInt8]) {
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: 36))
        bytes.withUnsafeMutableBufferPointer { buffer in
            write(high: high, low: low, into: UnsafeMutableBufferPointer(rebasing: buffer[start..<(start + 36)]))
        }
    }

    /// Writes the 36 bytes of the UUID v4 text of 128 bits.
    private static func write(high: UInt64, low: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>) {
        let high = (high & ~0xF000) | 0x4000  // version 4 in bits 12-15 of the third group
        let low = (low & ~(0xC << 60)) | (0x8 << 60)  // variant 10xx
        let digits: StaticString = "0123456789abcdef"
        do {
            digits.withUTF8Buffer { hex in
                var index = 0
                func put(_ value: UInt64, nibbles: Int) {
                    for shift in stride(from: (nibbles - 1) * 4, through: 0, by: -4) {
                        buffer[index] = hex[Int((value >> UInt64(shift)) & 0xF)]
                        index += 1
                    }
                }
                func dash() {
                    buffer[index] = UInt8(ascii: "-")
                    index += 1
                }
                put(high >> 32, nibbles: 8)
                dash()
                put((high >> 16) & 0xFFFF, nibbles: 4)
                dash()
                put(high & 0xFFFF, nibbles: 4)
                dash()
                put(low >> 48, nibbles: 4)
                dash()
                put(low & 0xFFFF_FFFF_FFFF, nibbles: 12)
            }
        }
    }

    /// Why a key is not acceptable, or `nil` when it is.
    ///
    /// - Parameter key: The key to check.
    /// - Returns: A message for the caller, mentioning the 64-character limit when the key is too long.
    public static func problem(with key: String) -> String? {
        if key.isEmpty { return "idempotency_key must not be empty" }
        // No more characters than UTF-8 bytes: most keys pass without counting characters.
        if key.utf8.count <= maximumLength { return nil }
        let count = key.count
        if count > maximumLength {
            return "idempotency_key must be at most \(maximumLength) characters, got \(count)"
        }
        return nil
    }
}
