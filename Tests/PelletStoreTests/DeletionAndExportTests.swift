import Foundation
import PelletStore
import PelletTesting
import PelletWire
import XCTest

/// A per-account table as a later module (metering) would write it: keys "<account>/<day>".
struct CounterTable: AccountScopedTable {
    let database: Database

    var exportName: String { "usage_counters" }

    func deleteAll(accountID: String, in transaction: WriteTransaction) throws {
        try transaction.deleteAll(database, prefix: AccountScope.prefix(accountID))
    }

    func export(accountID: String, in transaction: ReadTransaction) throws -> JSONValue {
        var rows: [JSONValue] = []
        try transaction.scan(database, prefix: AccountScope.prefix(accountID)) { key, value in
            rows.append(["key": .string(String(decoding: key, as: UTF8.self)), "requests": .uint(UInt64(value.count))])
            return true
        }
        return .array(rows)
    }
}

final class DeletionAndExportTests: StoreTestCase {
    private func storeWithCounters() async throws -> (Store, Database) {
        let store = try openStore()
        let counters = try await store.openDatabase(named: "usage_counters")
        store.register(CounterTable(database: counters))
        return (store, counters)
    }

    func testDeleteRemovesEveryTraceFromTheDataFile() async throws {
        let (store, counters) = try await storeWithCounters()
        let doomed = try await store.createAccount(
            Account(name: "Doomed", email: "Doomed@Example.com", oauthProvider: "github", oauthSubject: "gh-doomed")
        )
        let survivor = try await makeAccount(store, email: "survivor@example.com")
        let doomedKeys = [
            try await store.createKey(accountID: doomed.id, name: "one"),
            try await store.createKey(accountID: doomed.id, name: "two"),
        ]
        let survivorKey = try await store.createKey(accountID: survivor.id, name: "mine")
        try await store.write { transaction in
            try transaction.put(counters, key: AccountScope.key(doomed.id, "19700"), value: [1])
            try transaction.put(counters, key: AccountScope.key(survivor.id, "19700"), value: [1])
        }
        store.touchKey(id: doomedKeys[0].record.id)

        let deleted = try await store.deleteAccount(id: doomed.id)
        XCTAssertEqual(deleted, doomed)
        await assertStoreError(.notFound) { try await store.deleteAccount(id: doomed.id) }

        XCTAssertNil(try store.account(id: doomed.id))
        XCTAssertNil(try store.account(email: doomed.email))
        XCTAssertNil(try store.lookupKey(plaintext: doomedKeys[0].plaintext))
        XCTAssertNil(try store.key(id: doomedKeys[1].record.id))
        await assertStoreError(.notFound) { try store.listKeys(accountID: doomed.id) }
        // The other account is untouched.
        XCTAssertEqual(try store.lookupKey(plaintext: survivorKey.plaintext)?.account, survivor)
        XCTAssertEqual(try store.read { try $0.bytes(counters, key: AccountScope.key(survivor.id, "19700")) }, [1])
        store.close()

        let dump = try mdbDump(directory)
        XCTAssertTrue(dump.contains(survivor.id), "the dump should show live data")
        var traces = [doomed.id, doomed.email, doomed.email.lowercased(), "gh-doomed", "Doomed"]
        traces += doomedKeys.flatMap { [$0.record.id, $0.record.prefix] }
        for trace in traces {
            XCTAssertFalse(dump.contains(trace), "\(trace) is still in the data file")
        }

        // The email and OAuth identity are free again.
        let reopened = try openStore()
        _ = try await reopened.createAccount(
            Account(name: "Again", email: doomed.email, oauthProvider: "github", oauthSubject: "gh-doomed")
        )
    }

    func testExportHoldsTheAccountKeysAndRegisteredTables() async throws {
        let (store, counters) = try await storeWithCounters()
        let account = try await store.createAccount(
            Account(name: "Ada", email: "ada@example.com", monthlyBudgetMicroUsd: 9_007_199_254_740_993)
        )
        let key = try await store.createKey(accountID: account.id, name: "ci")
        try await store.write {
            try $0.put(counters, key: AccountScope.key(account.id, "19700"), value: [1, 2, 3])
        }

        let bytes = try store.exportAccount(id: account.id)
        let text = String(decoding: bytes, as: UTF8.self)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        XCTAssertEqual(object["format"] as? String, "pellet.account_export.v1")
        let exported = try XCTUnwrap(object["account"] as? [String: Any])
        XCTAssertEqual(exported["id"] as? String, account.id)
        XCTAssertEqual(exported["email"] as? String, "ada@example.com")
        XCTAssertEqual(exported["plan"] as? String, "free")
        // Integers above 2^53 are written exactly.
        XCTAssertTrue(text.contains("\"monthly_budget_micro_usd\":9007199254740993"), text)

        let keys = try XCTUnwrap(object["keys"] as? [[String: Any]])
        XCTAssertEqual(keys.count, 1)
        XCTAssertEqual(keys.first?["id"] as? String, key.record.id)
        XCTAssertEqual(keys.first?["prefix"] as? String, key.record.prefix)
        XCTAssertFalse(text.contains(key.plaintext))
        XCTAssertFalse(text.contains("hash"))

        let rows = try XCTUnwrap(object["usage_counters"] as? [[String: Any]])
        XCTAssertEqual(rows.first?["requests"] as? Int, 3)

        XCTAssertEqual(try store.exportAccount(id: account.id), bytes, "the same data exports to the same bytes")
        await assertStoreError(.notFound) { try store.exportAccount(id: "acc_missing") }
    }
}

