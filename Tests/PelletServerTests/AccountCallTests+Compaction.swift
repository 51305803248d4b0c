import Foundation
import PelletClient
import PelletStore
import PelletTesting
import PelletWire
import XCTest

/// Deleting an account erases its bytes from data.mdb, not only its live entries: checked with
/// a raw byte scan of the file, which also sees LMDB's freed pages.
extension AccountCallTests {
    private var dataDirectory: String { server.directory.file("data") }

    func testADeletedAccountsBytesAreGoneFromTheDataFileAfterCompaction() async throws {
        let marker = UInt64.random(in: 1_000_000_000...9_999_999_999)
        let (name, email) = ("Erased Person \(marker)", "erased-\(marker)@example.com")
        let doomed = try await createAccount(email, name: name)
        let keep = try await createAccount("kept-\(marker)@example.com", name: "Kept Person \(marker)")
        var doomedHashes: [[UInt8]] = []
        for index in 0..<3 {
            let key = try await account(.createKey(CreateKey(accountId: doomed.id, name: "key \(index)"))).apiKey
            doomedHashes.append(Store.keyHash(plaintext: key))
        }
        let keptKey = try await account(.createKey(CreateKey(accountId: keep.id, name: "kept"))).apiKey
        XCTAssertEqual(try filesContaining(email.utf8, in: dataDirectory), ["data.mdb"], "the scan finds live data")

        _ = try await account(.delete(doomed.id))

        // Compact while other calls write: every acknowledged write must be in the new file.
        let writer = try await server.client()
        let admin = server.adminCredentials
        let writes = Task {
            var created: [Account] = []
            for index in 0..<40 {
                let request = AccountRequest(
                    credentials: admin,
                    op: .create(
                        Account(name: "Concurrent \(index)", email: "concurrent-\(index)-\(marker)@example.com")
                    )
                )
                let response = try await writer.account(request)
                created.append(try XCTUnwrap(response.account))
            }
            return created
        }
        try await Task.sleep(for: .milliseconds(5))
        let compacted = try await account(.compact(CompactStore()))
        let report = try XCTUnwrap(compacted.compaction)
        let created = try await writes.value
        await writer.close()
        XCTAssertGreaterThan(report.bytesBefore, 0)
        XCTAssertGreaterThan(report.bytesAfter, 0)
        XCTAssertLessThanOrEqual(report.bytesAfter, report.bytesBefore)
        for account in created {
            let stored = try await self.account(.get(account.id)).account
            XCTAssertEqual(stored, account, "a write made during the compaction was lost")
        }

        let erased = [("email", Array(email.utf8)), ("name", Array(name.utf8))] + doomedHashes.map { ("key hash", $0) }
        for (what, bytes) in erased {
            XCTAssertEqual(
                try filesContaining(bytes, in: dataDirectory), [],
                "the deleted account's \(what) is still in the data directory"
            )
        }
        XCTAssertEqual(try filesContaining(keep.email.utf8, in: dataDirectory), ["data.mdb"], "the live account's bytes stay")
        XCTAssertEqual(try filesContaining(Store.keyHash(plaintext: keptKey), in: dataDirectory), ["data.mdb"])
        let kept = try await account(.get(""), credentials: Credentials(apiKey: keptKey))
        XCTAssertEqual(kept.account, keep, "the live account still authenticates and reads back")
    }

    func testCompactNeedsTheAdminToken() async throws {
        let owner = try await createAccount()
        let key = try await account(.createKey(CreateKey(accountId: owner.id, name: "k"))).apiKey
        for credentials in [Credentials(apiKey: key), Credentials(adminToken: "wrong"), Credentials()] {
            do {
                _ = try await account(.compact(CompactStore()), credentials: credentials)
                XCTFail("compact without the admin token succeeded")
            } catch {
                XCTAssertEqual(error.status, .permissionDenied, error.message)
            }
        }
    }
}
