import Foundation
import PelletStore
import XCTest

/// What the group-commit tests (``WriterTests``, ``ReplayableWriteTests``) share: a writer held
/// busy while writes queue up, many writes started at once, and the rows they left.

/// A write's failure, thrown on purpose by a test.
struct Refused: Error {}

extension StoreTestCase {
    /// Runs `writes` while the writer thread is busy for a moment, so that the writes they
    /// queue meanwhile are committed together, however fast the machine. Returns what `writes`
    /// returned and how many commits they took (the busy one not counted).
    func withWriterHeld<Result>(
        _ store: Store, _ writes: () async throws -> Result
    ) async throws -> (Result, commits: Int) {
        let holder = Task { try await store.write { _ in _ = usleep(150_000) } }
        try await Task.sleep(for: .milliseconds(20))
        let commitsBefore = store.commitCount
        let result = try await writes()
        try await holder.value
        return (result, store.commitCount - commitsBefore)
    }
}

/// Runs `write(0)` to `write(count - 1)` at once; for each index, whether its write succeeded
/// (true) or threw ``Refused`` (false). Any other error is thrown.
func outcomesOfConcurrentWrites(
    _ count: Int, _ write: @escaping @Sendable (Int) async throws -> Void
) async throws -> [Int: Bool] {
    try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
        for index in 0..<count {
            group.addTask {
                do {
                    try await write(index)
                    return (index, true)
                } catch is Refused {
                    return (index, false)
                }
            }
        }
        return try await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
    }
}

/// The values stored under `row-0` to `row-(count - 1)` in `table` (nil where there is none).
func storedRows(_ store: Store, _ table: Database, count: Int) throws -> [String?] {
    try store.read { transaction in
        try (0..<count).map { try transaction.string(table, key: "row-\($0)") }
    }
}
