import Foundation
import XCTest

@testable import PelletStore

/// Replayable writes (metering events, key touches) share one transaction in a group commit,
/// with no nested transaction each; a failing one sends the group back to the nested path, so
/// it is still rolled back alone.
final class ReplayableWriteTests: StoreTestCase {
    struct Refused: Error {}

    /// Occupies the writer thread for a moment, so that the writes queued meanwhile are
    /// committed together, however fast the machine.
    private func holdWriter(_ store: Store) -> Task<Void, any Error> {
        Task { try await store.write { _ in _ = usleep(150_000) } }
    }

    func testReplayableWritesShareCommits() async throws {
        let store = try openStore()
        let table = try await store.openDatabase(named: "scratch")
        let holder = holdWriter(store)
        try await Task.sleep(for: .milliseconds(20))
        let commitsBefore = store.commitCount

        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<100 {
                group.addTask {
                    try await writeReplayable(store) { try $0.put(table, key: "row-\(index)", value: "\(index)") }
                }
            }
            try await group.waitForAll()
        }
        try await holder.value

        let commits = store.commitCount - commitsBefore
        XCTAssertLessThan(commits, 25, "100 writes took \(commits) commits")
        for index in 0..<100 {
            XCTAssertEqual(try store.read { try $0.string(table, key: "row-\(index)") }, "\(index)")
        }
    }

    func testAFailingReplayableWriteInAGroupRollsBackOnlyItself() async throws {
        let store = try openStore()
        let table = try await store.openDatabase(named: "scratch")
        let counters = try await store.openDatabase(named: "counters")
        let holder = holdWriter(store)
        try await Task.sleep(for: .milliseconds(20))
        let commitsBefore = store.commitCount

        let outcomes = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
            for index in 0..<30 {
                group.addTask {
                    do {
                        try await writeReplayable(store) { transaction in
                            try transaction.put(table, key: "row-\(index)", value: "\(index)")
                            // A read-modify-write: replayed, it must not count twice.
                            let count = Int(try transaction.string(counters, key: "count") ?? "0") ?? 0
                            try transaction.put(counters, key: "count", value: "\(count + 1)")
                            if index % 5 == 0 { throw Refused() }
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
            XCTAssertEqual(outcomes[index], index % 5 != 0)
            let stored = try store.read { try $0.string(table, key: "row-\(index)") }
            XCTAssertEqual(stored, index % 5 == 0 ? nil : "\(index)")
        }
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
