import XCTest

@testable import PelletStore

/// Request ids come from a pool of kernel randomness refilled as it runs out: each is well
/// formed, none repeats across many refills, and every base62 character turns up.
final class RandomIdentifierTests: XCTestCase {
    func testRequestIDsAreWellFormedUniqueAndUseTheWholeAlphabet() {
        let alphabet = Set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        var seen = Set<String>()
        var characters = Set<Character>()
        // 20,000 ids draw 640 KB: the 1 KiB pool is refilled hundreds of times.
        for _ in 0..<20_000 {
            let id = RandomIdentifier.requestID()
            XCTAssertTrue(id.hasPrefix("req_"), id)
            let body = id.dropFirst(4)
            XCTAssertEqual(body.count, 20, id)
            XCTAssertTrue(body.allSatisfy(alphabet.contains), id)
            characters.formUnion(body)
            XCTAssertTrue(seen.insert(id).inserted, "\(id) was handed out twice")
        }
        XCTAssertEqual(characters, alphabet)
    }

    /// Ids drawn on several threads at once never share the pool's bytes.
    func testRequestIDsDrawnConcurrentlyNeverRepeat() {
        let perThread = 5_000
        let results = (0..<4).map { _ in LockedIDs() }
        DispatchQueue.concurrentPerform(iterations: results.count) { index in
            for _ in 0..<perThread { results[index].append(RandomIdentifier.requestID()) }
        }
        let all = results.flatMap(\.ids)
        XCTAssertEqual(all.count, results.count * perThread)
        XCTAssertEqual(Set(all).count, all.count)
    }
}

private final class LockedIDs: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    var ids: [String] { lock.withLock { stored } }
    func append(_ id: String) { lock.withLock { stored.append(id) } }
}
