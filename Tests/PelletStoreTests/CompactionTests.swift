import Foundation
import PelletStore
import PelletTesting
import PelletWire
import XCTest

/// `Store.compact()`: the data file is rewritten and swapped in while reads and writes go on.
final class CompactionTests: StoreTestCase {
    private var compactedFile: String { directory + "/data.mdb.compact" }

    /// A module's table (opened after the core ones) with rows deleted, so that the data file
    /// has freed pages, and 100 live rows "kept/<i>" → "v<i>".
    private func storeWithFreedPages() async throws -> (Store, Database) {
        let store = try openStore()
        let table = try await store.openDatabase(named: "compaction_rows")
        let filler = [UInt8](repeating: UInt8(ascii: "x"), count: 300)
        try await store.write { transaction in
            for index in 0..<2_000 { try transaction.put(table, key: "gone/\(index)", value: filler) }
            for index in 0..<100 { try transaction.put(table, key: "kept/\(index)", value: "v\(index)") }
        }
        try await store.write { transaction in
            for index in 0..<2_000 { try transaction.delete(table, key: "gone/\(index)") }
        }
        return (store, table)
    }

    func testCompactionUnderConcurrentReadsAndWritesLosesNothing() async throws {
        let (store, table) = try await storeWithFreedPages()
        let account = try await makeAccount(store, email: "before@example.com")

        // Readers on threads of their own (they block, as the event loops do), each checking
        // every kept row, until the compaction and the writes are over.
        let stop = LockedValue(false)
        let tally = LockedValue((reads: 0, wrong: 0, errors: [String]()))
        let finished = DispatchGroup()
        for _ in 0..<2 {
            finished.enter()
            Thread.detachNewThread {
                defer { finished.leave() }
                while !stop.value {
                    for index in 0..<100 {
                        do {
                            let value = try store.read { try $0.string(table, key: "kept/\(index)") }
                            tally.update { tally in
                                tally.reads += 1
                                if value != "v\(index)" { tally.wrong += 1 }
                            }
                        } catch {
                            tally.update { $0.errors.append("\(error)") }
                        }
                    }
                }
            }
        }

        // Writes one after another from before the compaction until well after it; each is
        // acknowledged only once committed.
        let compacted = LockedValue(false)
        let writes = Task {
            var acknowledged = 0
            var afterCompaction = 0
            while afterCompaction < 50 {
                let index = acknowledged
                try await store.write { try $0.put(table, key: "new/\(index)", value: "n\(index)") }
                acknowledged += 1
                if compacted.value { afterCompaction += 1 }
            }
            return acknowledged
        }
        try await Task.sleep(for: .milliseconds(20))
        let report = try await store.compact()
        compacted.update { $0 = true }
        let written = try await writes.value
        stop.update { $0 = true }
        finished.wait()

        let readerTally = tally.value
        XCTAssertEqual(readerTally.errors, [], "no read failed during the swap")
        XCTAssertEqual(readerTally.wrong, 0, "every read saw the kept rows")
        XCTAssertGreaterThan(readerTally.reads, 0)
        XCTAssertGreaterThan(written, 50)
        XCTAssertLessThan(report.bytesAfter, report.bytesBefore, "the freed pages are gone")
        XCTAssertFalse(FileManager.default.fileExists(atPath: compactedFile), "the copy was renamed into place")

        // The same Database values still name the same tables, the core ones included.
        try assertRows(store, table, written: written)
        XCTAssertEqual(try store.account(id: account.id), account)
        let later = try await makeAccount(store, email: "after@example.com")
        XCTAssertEqual(try store.account(email: "after@example.com"), later)

        // And it all survives a restart on the compacted file.
        store.close()
        let reopened = try openStore()
        let table2 = try await reopened.openDatabase(named: "compaction_rows")
        try assertRows(reopened, table2, written: written)
        XCTAssertEqual(try reopened.account(id: later.id), later)
    }

    func testACompactionThatFailsLeavesTheStoreWorkingOnTheOldFile() async throws {
        let (store, table) = try await storeWithFreedPages()
        // A directory where the copy would be created: creating the copy fails.
        try FileManager.default.createDirectory(atPath: compactedFile, withIntermediateDirectories: false)
        let sizeBefore = try fileSize(directory + "/data.mdb")
        do {
            _ = try await store.compact()
            XCTFail("the compaction should have failed")
        } catch let error as StoreError {
            XCTAssertTrue(error.message.contains("data.mdb.compact"), error.message)
        }
        XCTAssertEqual(try fileSize(directory + "/data.mdb"), sizeBefore, "the old file is still in use")
        try await store.write { try $0.put(table, key: "new/0", value: "n0") }
        try assertRows(store, table, written: 1)

        try FileManager.default.removeItem(atPath: compactedFile)
        let report = try await store.compact()
        XCTAssertLessThan(report.bytesAfter, report.bytesBefore)
        try assertRows(store, table, written: 1)
    }

    func testAStaleCompactedCopyIsRemovedOnOpen() async throws {
        // What a crash between writing the copy and renaming it leaves behind.
        try Data("a partial copy".utf8).write(to: URL(fileURLWithPath: compactedFile))
        let store = try openStore()
        XCTAssertFalse(FileManager.default.fileExists(atPath: compactedFile))
        let account = try await makeAccount(store, email: "fresh@example.com")
        XCTAssertEqual(try store.account(id: account.id), account)
    }

    private func assertRows(_ store: Store, _ table: Database, written: Int, line: UInt = #line) throws {
        try store.read { transaction in
            for index in 0..<100 {
                XCTAssertEqual(try transaction.string(table, key: "kept/\(index)"), "v\(index)", line: line)
            }
            for index in 0..<written {
                XCTAssertEqual(try transaction.string(table, key: "new/\(index)"), "n\(index)", "write \(index)", line: line)
            }
            XCTAssertNil(try transaction.string(table, key: "gone/0"), line: line)
        }
    }

    private func fileSize(_ path: String) throws -> UInt64 {
        try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64)
    }
}
