import Foundation
import PelletStore
import PelletWire
import XCTest

final class KeyTests: StoreTestCase {
    func testCreateKeyReturnsThePlaintextOnceAndStoresItsHash() async throws {
        let store = try openStore()
        let account = try await makeAccount(store)
        let (plaintext, record) = try await store.createKey(accountID: account.id, name: "production")

        XCTAssertTrue(plaintext.hasPrefix("plt_"))
        XCTAssertEqual(plaintext.count, 47)
        XCTAssertTrue(plaintext.dropFirst(4).allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
        XCTAssertTrue(record.id.hasPrefix("key_"))
        XCTAssertEqual(record.id.count, 20)
        XCTAssertEqual(record.prefix, String(plaintext.prefix(12)))
        XCTAssertEqual(record.accountId, account.id)
        XCTAssertEqual(record.name, "production")
        XCTAssertEqual(record.createdUnixMs, testEpoch)
        XCTAssertEqual(record.revokedUnixMs, 0)

        let hash = Store.keyHash(plaintext: plaintext)
        XCTAssertEqual(hash.count, 32)
        let found = try XCTUnwrap(try store.lookupKey(hash: hash))
        XCTAssertEqual(found.key, record)
        XCTAssertEqual(found.account, account)
        XCTAssertEqual(try store.lookupKey(plaintext: plaintext)?.account, account)
        XCTAssertNil(try store.lookupKey(plaintext: plaintext + "x"))
        XCTAssertNil(try store.lookupKey(hash: [UInt8]()))
        XCTAssertEqual(try store.key(id: record.id), record)
    }

    func testKeysAreRandom() async throws {
        let store = try openStore()
        let account = try await makeAccount(store)
        var plaintexts = Set<String>()
        for index in 0..<20 {
            plaintexts.insert(try await store.createKey(accountID: account.id, name: "k\(index)").plaintext)
        }
        XCTAssertEqual(plaintexts.count, 20)
    }

    func testKeyErrors() async throws {
        let store = try openStore()
        let account = try await makeAccount(store)
        await assertStoreError(.notFound) { try await store.createKey(accountID: "acc_missing", name: "x") }
        await assertStoreError(.invalidArgument) {
            try await store.createKey(accountID: account.id, name: String(repeating: "k", count: 201))
        }
        await assertStoreError(.notFound) { try await store.revokeKey(id: "key_missing") }
        await assertStoreError(.notFound) { try store.listKeys(accountID: "acc_missing") }
    }

    func testARevokedKeyStillLooksUpAndShowsRevoked() async throws {
        let store = try openStore()
        let account = try await makeAccount(store)
        let (plaintext, record) = try await store.createKey(accountID: account.id, name: "old")
        clock.advance(by: 5000)
        let revoked = try await store.revokeKey(id: record.id)
        XCTAssertEqual(revoked.revokedUnixMs, testEpoch + 5000)
        XCTAssertEqual(try store.lookupKey(plaintext: plaintext)?.key.revokedUnixMs, testEpoch + 5000)

        clock.advance(by: 5000)
        let again = try await store.revokeKey(id: record.id)
        XCTAssertEqual(again.revokedUnixMs, testEpoch + 5000, "revoking again keeps the first time")
    }

    func testListKeysGivesMetadataOnly() async throws {
        let store = try openStore()
        let account = try await makeAccount(store)
        let other = try await makeAccount(store, email: "grace@example.com")
        let first = try await store.createKey(accountID: account.id, name: "first")
        clock.advance(by: 1)
        let second = try await store.createKey(accountID: account.id, name: "second")
        _ = try await store.createKey(accountID: other.id, name: "not mine")
        try await store.revokeKey(id: first.record.id)

        let keys = try store.listKeys(accountID: account.id)
        XCTAssertEqual(keys.map(\.id), [first.record.id, second.record.id])
        XCTAssertNotEqual(keys[0].revokedUnixMs, 0)
        XCTAssertEqual(try store.listKeys(accountID: other.id).count, 1)
        let encoded = keys.flatMap { $0.encodedBytes() }
        XCTAssertFalse(containsSubsequence(encoded, Store.keyHash(plaintext: first.plaintext)))
        XCTAssertFalse(containsSubsequence(encoded, Array(first.plaintext.utf8)))
    }

    func testLookupIsFast() async throws {
        let store = try openStore()
        let account = try await makeAccount(store)
        let hash = Store.keyHash(plaintext: try await store.createKey(accountID: account.id, name: "hot").plaintext)
        let start = ContinuousClock.now
        for _ in 0..<20_000 {
            XCTAssertNotNil(try store.lookupKey(hash: hash))
        }
        let elapsed = ContinuousClock.now - start
        XCTAssertLessThan(elapsed, .seconds(2))
    }

    func testTouchWritesAtMostOncePerMinute() async throws {
        let store = try openStore()
        let account = try await makeAccount(store)
        let key = try await store.createKey(accountID: account.id, name: "hot").record

        XCTAssertTrue(store.touchKey(id: key.id, now: testEpoch + 1000))
        let commitsAfterFirstTouch = store.commitCount
        for second in 2..<60 {
            XCTAssertFalse(store.touchKey(id: key.id, now: testEpoch + UInt64(second) * 1000))
        }
        try await store.write { _ in }  // the writer is FIFO: the touch is committed by now
        XCTAssertEqual(try store.key(id: key.id)?.lastUsedUnixMs, testEpoch + 1000)
        XCTAssertLessThanOrEqual(store.commitCount - commitsAfterFirstTouch, 2)

        XCTAssertTrue(store.touchKey(id: key.id, now: testEpoch + 61_000))
        try await store.write { _ in }
        XCTAssertEqual(try store.key(id: key.id)?.lastUsedUnixMs, testEpoch + 61_000)

        // Touching an unknown or deleted key is harmless.
        XCTAssertTrue(store.touchKey(id: "key_missing"))
        try await store.write { _ in }
    }
}

func containsSubsequence(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, haystack.count >= needle.count else { return false }
    return (0...(haystack.count - needle.count)).contains { start in
        haystack[start..<start + needle.count].elementsEqual(needle)
    }
}
