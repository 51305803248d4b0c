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
}
