import Foundation
import PelletWire
import XCTest

@testable import PelletStore

/// The authentication lookup keeps the key and account it decoded, and uses them only while the
/// stored bytes are unchanged: every change is seen by the next lookup.
final class DecodedRecordsTests: StoreTestCase {
    func testLookupsReuseTheDecodedRecordsWhileTheyAreUnchanged() async throws {
        let store = try openStore()
        let account = try await makeAccount(store)
        let (plaintext, record) = try await store.createKey(accountID: account.id, name: "hot")
        let first = try XCTUnwrap(try store.lookupKey(plaintext: plaintext))
        let second = try XCTUnwrap(try store.lookupKey(plaintext: plaintext))
        XCTAssertEqual(first.key, second.key)
        XCTAssertEqual(first.account, second.account)
        XCTAssertEqual(second.key.id, record.id)
        XCTAssertEqual(store.decodedKeys.count, 1)
        XCTAssertEqual(store.decodedAccounts.count, 1)
    }

    func testARevokedKeyIsSeenRevokedAtOnce() async throws {
        let store = try openStore()
        let account = try await makeAccount(store)
        let (plaintext, record) = try await store.createKey(accountID: account.id, name: "hot")
        XCTAssertEqual(try store.lookupKey(plaintext: plaintext)?.key.revokedUnixMs, 0)
        try await store.revokeKey(id: record.id)
        XCTAssertEqual(try store.lookupKey(plaintext: plaintext)?.key.revokedUnixMs, testEpoch)
    }

    func testAChangedAccountIsSeenAtOnce() async throws {
        let store = try openStore()
        let account = try await makeAccount(store)
        let (plaintext, _) = try await store.createKey(accountID: account.id, name: "hot")
        XCTAssertEqual(try store.lookupKey(plaintext: plaintext)?.account.subscriptionStatus, account.subscriptionStatus)
        var changes = Account()
        changes.id = account.id
        changes.subscriptionStatus = "canceled"
        changes.monthlyBudgetMicroUsd = 5_000_000
        _ = try await store.updateAccount(changes)
        let after = try XCTUnwrap(try store.lookupKey(plaintext: plaintext))
        XCTAssertEqual(after.account.subscriptionStatus, "canceled")
        XCTAssertEqual(after.account.monthlyBudgetMicroUsd, 5_000_000)
    }

    func testADeletedAccountsKeyNoLongerLooksUp() async throws {
        let store = try openStore()
        let account = try await makeAccount(store)
        let (plaintext, _) = try await store.createKey(accountID: account.id, name: "hot")
        XCTAssertNotNil(try store.lookupKey(plaintext: plaintext))
        try await store.deleteAccount(id: account.id)
        XCTAssertNil(try store.lookupKey(plaintext: plaintext))
    }

    func testTheCacheStaysWithinItsCapacity() throws {
        let cache = DecodedRecords<ApiKey>(capacity: 8)
        for index in 0..<50 {
            var key = ApiKey()
            key.id = "key_\(index)"
            let bytes = key.encodedBytes()
            let decoded = try bytes.withUnsafeBytes { try cache.message(decoding: $0) }
            XCTAssertEqual(decoded.id, "key_\(index)")
            XCTAssertLessThanOrEqual(cache.count, 8)
        }
    }
}
