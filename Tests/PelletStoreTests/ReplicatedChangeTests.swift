import PelletStore
import PelletWire
import XCTest

/// Cluster mode's copy: changes applied in sequence order, once, with the sequence reached.
final class ReplicatedChangeTests: StoreTestCase {
    func testChangesApplyOnceInOrderAndADeletionTakesTheAccountsRows() async throws {
        let store = try openStore()
        XCTAssertEqual(try store.replicatedSequence(), 0)
        let account = try store.proposedAccount(Account(name: "Ada", email: "Ada@Example.com"))
        let (plaintext, key, hash) = try store.proposedKey(accountID: account.id, name: "ci")
        var revoked = key
        revoked.revokedUnixMs = 42
        let changes = [
            ReplicatedChange(sequence: 3, kind: .accountPut(account)),
            ReplicatedChange(sequence: 7, kind: .keyPut(key, hash: hash)),
        ]
        let none = try await store.applyReplicated(changes)
        XCTAssertEqual(none, [])
        XCTAssertEqual(try store.replicatedSequence(), 7)
        XCTAssertEqual(try store.account(email: "ada@example.com"), account)
        XCTAssertEqual(try store.lookupKey(plaintext: plaintext)?.key, key)

        // A batch read again after a crash changes nothing; a later change applies.
        try await store.applyReplicated(changes + [ReplicatedChange(sequence: 9, kind: .keyPut(revoked, hash: hash))])
        XCTAssertEqual(try store.lookupKey(plaintext: plaintext)?.key.revokedUnixMs, 42)
        try await store.applyReplicated([ReplicatedChange(sequence: 7, kind: .keyPut(key, hash: hash))])
        XCTAssertEqual(try store.lookupKey(plaintext: plaintext)?.key.revokedUnixMs, 42, "an old change is skipped")
        XCTAssertEqual(try store.replicatedSequence(), 9)

        // An email moved to another account by the database: the index follows.
        var renamed = account
        renamed.email = "ada@new.example"
        let other = try store.proposedAccount(Account(name: "Bo", email: "ada@example.com"))
        try await store.applyReplicated([
            ReplicatedChange(sequence: 10, kind: .accountPut(renamed)),
            ReplicatedChange(sequence: 11, kind: .accountPut(other)),
        ])
        XCTAssertEqual(try store.account(email: "ada@example.com")?.id, other.id)
        XCTAssertEqual(try store.account(email: "ada@new.example")?.id, account.id)

        let deleted = try await store.applyReplicated([
            ReplicatedChange(sequence: 12, kind: .accountDelete(id: account.id)),
            ReplicatedChange(sequence: 13, kind: .accountDelete(id: "acc_never_here")),
        ])
        XCTAssertEqual(deleted, [account.id])
        XCTAssertNil(try store.account(id: account.id))
        XCTAssertNil(try store.lookupKey(plaintext: plaintext))
        XCTAssertNil(try store.key(id: key.id))
        XCTAssertEqual(try store.replicatedSequence(), 13)
    }

    func testASnapshotReplacesTheCopyDeletingWhatItLacks() async throws {
        let store = try openStore()
        let metering = try await store.openMetering()
        let kept = try store.proposedAccount(Account(name: "Ada", email: "ada@example.com"))
        let gone = try store.proposedAccount(Account(name: "Bo", email: "bo@example.com"))
        let (keptPlaintext, keptKey, keptHash) = try store.proposedKey(accountID: kept.id, name: "a")
        let (strayPlaintext, strayKey, strayHash) = try store.proposedKey(accountID: kept.id, name: "stray")
        let (gonePlaintext, goneKey, goneHash) = try store.proposedKey(accountID: gone.id, name: "b")
        try await store.applyReplicated([
            ReplicatedChange(sequence: 1, kind: .accountPut(kept)),
            ReplicatedChange(sequence: 2, kind: .accountPut(gone)),
            ReplicatedChange(sequence: 3, kind: .keyPut(keptKey, hash: keptHash)),
            ReplicatedChange(sequence: 4, kind: .keyPut(strayKey, hash: strayHash)),
            ReplicatedChange(sequence: 5, kind: .keyPut(goneKey, hash: goneHash)),
        ])
        try await metering.record(meteringEvent("req-gone", account: gone.id))

        // The database now has the first account (its email changed, its key revoked, without
        // the stray key) and a new one that took the deleted account's email.
        var updated = kept
        updated.email = "ada@new.example"
        var revoked = keptKey
        revoked.revokedUnixMs = 42
        let added = try store.proposedAccount(Account(name: "Cy", email: "bo@example.com"))
        let (addedPlaintext, addedKey, addedHash) = try store.proposedKey(accountID: added.id, name: "c")
        let deleted = try await store.replaceReplicated(
            with: ReplicatedSnapshot(
                sequence: 40, accounts: [updated, added],
                keys: [.init(record: revoked, hash: keptHash), .init(record: addedKey, hash: addedHash)]))
        XCTAssertEqual(deleted, [gone.id])
        XCTAssertEqual(try store.replicatedSequence(), 40)
        XCTAssertNil(try store.account(id: gone.id))
        XCTAssertNil(try store.lookupKey(plaintext: gonePlaintext))
        XCTAssertNil(try store.lookupKey(plaintext: strayPlaintext))
        XCTAssertNil(try store.key(id: strayKey.id))
        XCTAssertEqual(try store.listKeys(accountID: kept.id).map(\.id), [keptKey.id])
        XCTAssertEqual(try store.lookupKey(plaintext: keptPlaintext)?.key.revokedUnixMs, 42)
        XCTAssertEqual(try store.lookupKey(plaintext: addedPlaintext)?.account, added)
        XCTAssertEqual(try store.account(email: "bo@example.com")?.id, added.id)
        XCTAssertEqual(try store.account(email: "ada@new.example")?.id, kept.id)
        XCTAssertNil(try store.account(email: "ada@example.com"))
        XCTAssertThrowsError(try metering.usage(accountID: gone.id), "the deleted account's usage is still there")

        // Later changes apply after the snapshot's sequence, older ones not.
        try await store.applyReplicated([ReplicatedChange(sequence: 39, kind: .accountDelete(id: kept.id))])
        XCTAssertNotNil(try store.account(id: kept.id))
    }
}
