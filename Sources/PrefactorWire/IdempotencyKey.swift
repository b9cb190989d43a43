import Foundation

/// Idempotency keys (spec §1.5): UUID v4 strings generated per operation, at most 64 characters.
public enum IdempotencyKey {
    /// The longest key the API accepts.
    public static let maximumLength = 64

    /// A fresh UUID v4 key in lowercase, as the official SDKs generate them.
    public static func generate() -> String {
        UUID().uuidString.lowercased()
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
