import Foundation
import PrefactorWire
import Testing

/// Idempotency keys (spec §1.5).
struct IdempotencyKeyTests {
    @Test func generatedKeysAreLowercaseUUIDv4() throws {
        let keys = (0..<50).map { _ in IdempotencyKey.generate() }
        #expect(Set(keys).count == keys.count)
        for key in keys {
            #expect(key.count == 36)
            #expect(key == key.lowercased())
            let uuid = try #require(UUID(uuidString: key))
            #expect(uuid.uuidString.lowercased() == key)
            let characters = Array(key)
            #expect(characters[14] == "4", "version 4")
            #expect("89ab".contains(characters[19]), "RFC 4122 variant")
            #expect(IdempotencyKey.problem(with: key) == nil)
        }
    }

    @Test(arguments: [1, 8, 36, 63, 64])
    func keysUpToSixtyFourCharactersAreAccepted(length: Int) {
        #expect(IdempotencyKey.problem(with: String(repeating: "k", count: length)) == nil)
    }

    @Test(arguments: [65, 66, 100, 1000])
    func longerKeysAreRejectedMentioningTheLimit(length: Int) throws {
        let problem = try #require(IdempotencyKey.problem(with: String(repeating: "k", count: length)))
        #expect(problem.contains("64 characters"))
        #expect(problem.contains("\(length)"))
    }

    @Test func emptyKeyIsRejected() {
        #expect(IdempotencyKey.problem(with: "") != nil)
        #expect(IdempotencyKey.maximumLength == 64)
    }
}
