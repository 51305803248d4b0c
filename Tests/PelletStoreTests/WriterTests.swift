import Foundation
import PelletStore
import XCTest

final class WriterTests: StoreTestCase {
    struct Refused: Error {}

    /// Occupies the writer thread for a moment, so that the writes queued meanwhile are
    /// committed together, however fast the machine.
    private func holdWriter(_ store: Store) -> Task<Void, any Error> {
        Task { try await store.write { _ in _ = usleep(150_000) } }
    }

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
        let commitsBefore = store.commitCount
        let holder = holdWriter(store)
        try await Task.sleep(for: .milliseconds(20))

        let writes = 200
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<writes {
                group.addTask {
                    try await store.write { try $0.put(table, key: "row-\(index)", value: "\(index)") }
                }
            }
            try await group.waitForAll()
        }
        try await holder.value

        let commits = store.commitCount - commitsBefore
        XCTAssertLessThan(commits, writes / 4, "\(writes) writes took \(commits) commits")
        for index in 0..<writes {
            XCTAssertEqual(try store.read { try $0.string(table, key: "row-\(index)") }, "\(index)")
        }
    }

    func testAFailingWriteInAGroupRollsBackOnlyItself() async throws {
        let store = try openStore()
        let table = try await store.openDatabase(named: "scratch")
        let holder = holdWriter(store)
        try await Task.sleep(for: .milliseconds(20))
        let commitsBefore = store.commitCount

        let outcomes = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
            for index in 0..<30 {
                group.addTask {
                    do {
                        try await store.write { transaction in
                            try transaction.put(table, key: "row-\(index)", value: "\(index)")
                            if index % 3 == 0 { throw Refused() }
                        }
                        return (index, true)
                    } catch is Refused {
                        return (index, false)
                    }
                }
            }
            return try await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
        }
        try await holder.value

        XCTAssertLessThan(store.commitCount - commitsBefore, 10)
        for index in 0..<30 {
            XCTAssertEqual(outcomes[index], index % 3 != 0)
            let stored = try store.read { try $0.string(table, key: "row-\(index)") }
            XCTAssertEqual(stored, index % 3 == 0 ? nil : "\(index)")
        }
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
