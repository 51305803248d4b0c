import Foundation
import XCTest

@testable import PelletStore

/// Replayable writes (metering events, key touches) share one transaction in a group commit,
/// with no nested transaction each; a failing one sends the group back to the nested path, so
/// it is still rolled back alone.
final class ReplayableWriteTests: StoreTestCase {
    func testReplayableWritesShareCommits() async throws {
        let store = try openStore()
        let table = try await store.openDatabase(named: "scratch")

        let (outcomes, commits) = try await withWriterHeld(store) {
            try await outcomesOfConcurrentWrites(100) { index in
                try await writeReplayable(store) { try $0.put(table, key: "row-\(index)", value: "\(index)") }
            }
        }

        XCTAssertLessThan(commits, 25, "100 writes took \(commits) commits")
        XCTAssertEqual(outcomes.values.filter { $0 }.count, 100)
        XCTAssertEqual(try storedRows(store, table, count: 100), (0..<100).map { "\($0)" })
    }

    func testAFailingReplayableWriteInAGroupRollsBackOnlyItself() async throws {
        let store = try openStore()
        let table = try await store.openDatabase(named: "scratch")
        let counters = try await store.openDatabase(named: "counters")

        let (outcomes, commits) = try await withWriterHeld(store) {
            try await outcomesOfConcurrentWrites(30) { index in
                try await writeReplayable(store) { transaction in
                    try transaction.put(table, key: "row-\(index)", value: "\(index)")
                    // A read-modify-write: replayed, it must not count twice.
                    let count = Int(try transaction.string(counters, key: "count") ?? "0") ?? 0
                    try transaction.put(counters, key: "count", value: "\(count + 1)")
                    if index % 5 == 0 { throw Refused() }
                }
            }
        }

        XCTAssertLessThan(commits, 10)
        XCTAssertEqual(outcomes, Dictionary(uniqueKeysWithValues: (0..<30).map { ($0, $0 % 5 != 0) }))
        XCTAssertEqual(try storedRows(store, table, count: 30), (0..<30).map { $0 % 5 == 0 ? nil : "\($0)" })
        // Each write that succeeded counted once; none that failed, none replayed twice.
        XCTAssertEqual(try store.read { try $0.string(counters, key: "count") }, "24")
    }
}

/// ``Store/writeReplayable(_:completion:)``, awaited.
private func writeReplayable(
    _ store: Store, _ body: @escaping @Sendable (WriteTransaction) throws -> Void
) async throws {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        store.writeReplayable(body) { continuation.resume(with: $0) }
    }
}
