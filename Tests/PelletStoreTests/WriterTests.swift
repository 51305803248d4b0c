import Foundation
import PelletStore
import XCTest

final class WriterTests: StoreTestCase {
    func testWriteReturnsTheBodysResult() async throws {
        let store = try openStore()
        let table = try await store.openDatabase(named: "scratch")
        let value = try await store.write { transaction in
            try transaction.put(table, key: "k", value: "v")
            return try transaction.string(table, key: "k")
        }
        XCTAssertEqual(value, "v")
        XCTAssertEqual(try store.read { try $0.string(table, key: "k") }, "v")
    }

    func testConcurrentWritesShareCommits() async throws {
        let store = try openStore()
        let table = try await store.openDatabase(named: "scratch")

        let writes = 200
        let (outcomes, commits) = try await withWriterHeld(store) {
            try await outcomesOfConcurrentWrites(writes) { index in
                try await store.write { try $0.put(table, key: "row-\(index)", value: "\(index)") }
            }
        }

        XCTAssertLessThan(commits, writes / 4, "\(writes) writes took \(commits) commits")
        XCTAssertEqual(outcomes.values.filter { $0 }.count, writes)
        XCTAssertEqual(try storedRows(store, table, count: writes), (0..<writes).map { "\($0)" })
    }

    func testAFailingWriteInAGroupRollsBackOnlyItself() async throws {
        let store = try openStore()
        let table = try await store.openDatabase(named: "scratch")

        let (outcomes, commits) = try await withWriterHeld(store) {
            try await outcomesOfConcurrentWrites(30) { index in
                try await store.write { transaction in
                    try transaction.put(table, key: "row-\(index)", value: "\(index)")
                    if index % 3 == 0 { throw Refused() }
                }
            }
        }

        XCTAssertLessThan(commits, 10)
        XCTAssertEqual(outcomes, Dictionary(uniqueKeysWithValues: (0..<30).map { ($0, $0 % 3 != 0) }))
        XCTAssertEqual(try storedRows(store, table, count: 30), (0..<30).map { $0 % 3 == 0 ? nil : "\($0)" })
    }

    func testAFailingLoneWriteLeavesNothing() async throws {
        let store = try openStore()
        let table = try await store.openDatabase(named: "scratch")
        do {
            try await store.write { transaction in
                try transaction.put(table, key: "k", value: "v")
                throw Refused()
            }
            XCTFail("the write should have failed")
        } catch is Refused {}
        XCTAssertNil(try store.read { try $0.string(table, key: "k") })
    }

    func testScansAndPrefixDeletes() async throws {
        let store = try openStore()
        let table = try await store.openDatabase(named: "scratch")
        try await store.write { transaction in
            for key in ["acc_a/1", "acc_a/2", "acc_ab/1", "acc_b/1"] {
                try transaction.put(table, key: key, value: [UInt8]())
            }
        }
        func keys(prefix: String) throws -> [String] {
            try store.read { transaction in
                var keys: [String] = []
                try transaction.scan(table, prefix: prefix) { key, _ in
                    keys.append(String(decoding: key, as: UTF8.self))
                    return true
                }
                return keys
            }
        }
        XCTAssertEqual(try keys(prefix: AccountScope.prefix("acc_a")), ["acc_a/1", "acc_a/2"])
        let removed = try await store.write { try $0.deleteAll(table, prefix: AccountScope.prefix("acc_a")) }
        XCTAssertEqual(removed, 2)
        XCTAssertEqual(try keys(prefix: ""), ["acc_ab/1", "acc_b/1"])
    }

    func testReadsFromManyThreadsAtOnce() async throws {
        let store = try openStore()
        let account = try await makeAccount(store)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<500 {
                        XCTAssertEqual(try store.account(id: account.id)?.email, account.email)
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
