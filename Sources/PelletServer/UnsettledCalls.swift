import Synchronization

/// Complete calls that have started but whose metering is not yet committed (or released).
///
/// A graceful shutdown closes the connections of calls that outlive the grace period; those calls
/// then settle on their own (the cancelled transfer ends, the partial stream is charged and its
/// record written). The store may be closed only after that: pelletd waits here for the count to
/// reach zero, so no call that started goes unrecorded.
public final class UnsettledCalls: Sendable {
    private let count = Atomic<Int>(0)

    public init() {}

    public var current: Int { count.load(ordering: .acquiring) }

    func begin() { count.add(1, ordering: .relaxed) }
    func end() { count.subtract(1, ordering: .releasing) }

    /// Waits until every call has settled, or `timeout` passed; returns how many had not.
    /// Polls: it runs once, at shutdown, and must not add anything to the calls' own path.
    public func waitUntilSettled(timeout: Duration) async -> Int {
        let deadline = ContinuousClock.now + timeout
        while current > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        return current
    }
}
