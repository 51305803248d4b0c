import Foundation
import PelletStore
import PelletWire
import XCTest

final class EnvironmentTests: StoreTestCase {
    func testOpeningCreatesAMissingDataDirectory() throws {
        let nested = directory + "/a/b/data"
        var configuration = configuration()
        configuration.dataDirectory = nested
        _ = try openStore(configuration)
        XCTAssertTrue(FileManager.default.fileExists(atPath: nested + "/data.mdb"))
    }

    func testADataDirectoryThatCannotBeCreatedGivesAClearError() throws {
        // Tests run as root, so permissions do not stop them; a path below a regular file does.
        let file = directory + "/file"
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)))
        var configuration = configuration()
        configuration.dataDirectory = file + "/sub"
        XCTAssertThrowsError(try openStore(configuration)) { error in
            XCTAssertEqual((error as? StoreError)?.kind, .io)
            XCTAssertEqual("\(error)", "cannot open the data directory \(file)/sub: not a directory")
        }
        configuration.dataDirectory = file
        XCTAssertThrowsError(try openStore(configuration)) { error in
            XCTAssertEqual("\(error)", "cannot open the data directory \(file): not a directory")
        }
    }

    func testReopeningKeepsTheData() async throws {
        var store = try openStore()
        let account = try await makeAccount(store)
        let key = try await store.createKey(accountID: account.id, name: "ci")
        store.close()

        store = try openStore()
        XCTAssertEqual(try store.account(id: account.id), account)
        XCTAssertEqual(try store.account(email: "ADA@example.com"), account)
        XCTAssertEqual(try store.lookupKey(plaintext: key.plaintext)?.key, key.record)
    }

    func testAClosedStoreRefusesReadsAndWrites() async throws {
        let store = try openStore()
        let account = try await makeAccount(store)
        store.close()
        store.close()  // a second close is harmless
        await assertStoreError(.unavailable) { try store.account(id: account.id) }
        await assertStoreError(.unavailable) { try await store.write { _ in 1 } }
    }

    func testAFullMapFailsWithMapFullAndLeavesTheDataReadable() async throws {
        let configuration = configuration(mapSizeBytes: 1 << 20)
        var store = try openStore(configuration)
        let account = try await makeAccount(store)
        let filler = try await store.openDatabase(named: "filler")
        let chunk = [UInt8](repeating: 0xAB, count: 4096)

        var writes = 0
        var failure: StoreError?
        while failure == nil && writes < 100 {
            let first = writes * 16
            do {
                try await store.write { transaction in
                    for index in first..<first + 16 {
                        try transaction.put(filler, key: "row-\(index)", value: chunk)
                    }
                }
                writes += 1
            } catch let error as StoreError {
                failure = error
            }
        }
        let error = try XCTUnwrap(failure, "the map never filled")
        XCTAssertEqual(error.kind, .mapFull)
        XCTAssertTrue(error.message.contains("--map-size"), error.message)
        XCTAssertGreaterThan(writes, 0)

        // Every acknowledged write is intact, the failed one left nothing, and the store still
        // takes reads and small writes.
        let lastAcknowledged = "row-\(writes * 16 - 1)"
        XCTAssertEqual(try store.read { try $0.bytes(filler, key: lastAcknowledged) }, chunk)
        XCTAssertNil(try store.read { try $0.bytes(filler, key: "row-\(writes * 16)") })
        XCTAssertEqual(try store.account(id: account.id), account)

        store.close()
        store = try openStore(configuration)
        XCTAssertEqual(try store.account(id: account.id), account)
        let reopenedFiller = try await store.openDatabase(named: "filler")
        XCTAssertEqual(try store.read { try $0.bytes(reopenedFiller, key: lastAcknowledged) }, chunk)
    }

    func testBatchedDurabilitySyncsOnATimer() async throws {
        let store = try openStore(configuration(durability: .batched))
        let account = try await makeAccount(store)
        let deadline = Date().addingTimeInterval(2)
        while store.timedSyncCount == 0 && Date() < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        XCTAssertGreaterThan(store.timedSyncCount, 0)
        store.close()
        XCTAssertEqual(try openStore().account(id: account.id), account)
    }

    func testARecordThatDoesNotDecodeIsReportedAsCorrupt() async throws {
        let store = try openStore()
        let accounts = try await store.openDatabase(named: "accounts")
        // Field 1 as a length-delimited string claiming 100 bytes, with 1 present.
        try await store.write { try $0.put(accounts, key: "acc_broken", value: [0x0A, 100, 0x41]) }
        let message = await assertStoreError(.dataCorrupted) { try store.account(id: "acc_broken") }
        XCTAssertTrue(message?.hasPrefix("a record in the accounts table does not decode") == true, message ?? "")
    }

    func testOtherModulesTablesSurviveReopening() async throws {
        var store = try openStore()
        let counters = try await store.openDatabase(named: "counters")
        try await store.write { try $0.put(counters, key: "acc_x/2024", value: [1, 2, 3]) }
        store.close()
        store = try openStore()
        let reopened = try await store.openDatabase(named: "counters")
        XCTAssertEqual(try store.read { try $0.bytes(reopened, key: "acc_x/2024") }, [1, 2, 3])
    }
}
