import PrefactorWire
import Testing

/// `IdempotencyKey.problem(with:)` skips counting characters when the UTF-8 length already shows the key is short
/// enough; keys of multi-byte characters must still be judged by their character count.
struct IdempotencyKeyLengthTests {
    @Test(arguments: ["é", "日", "🚀", "👩‍👩‍👧", "e\u{301}"])
    func multiByteKeysAreJudgedByCharacters(character: String) throws {
        #expect(IdempotencyKey.problem(with: String(repeating: character, count: 64)) == nil)
        let problem = try #require(IdempotencyKey.problem(with: String(repeating: character, count: 65)))
        #expect(problem == "idempotency_key must be at most 64 characters, got 65")
    }

    @Test func keysAtTheByteBoundaryAreAccepted() {
        #expect(IdempotencyKey.problem(with: String(repeating: "k", count: 64)) == nil)
        #expect(IdempotencyKey.problem(with: String(repeating: "k", count: 63) + "é") == nil)
        #expect(IdempotencyKey.problem(with: String(repeating: "k", count: 65)) != nil)
    }
}
