import Synchronization

/// Whether the store can take writes: what metering's fail-closed rule reads.
///
/// A write that fails for a reason of the store itself (the map is full, the disk failed) says
/// nothing good about the next one, so from the first such failure the store reports a refusal.
/// Failures that belong to one write (a duplicate key, an unknown account, a bad argument) leave
/// it alone. Only a probe write (``Store/probeWritesIfRefusing()``, made when a caller is refused
/// or Health is asked, at most once a second) ends it, and only by finding room for much more
/// than one call: a tiny write that happens to fit (a key's last use) proves nothing.
///
/// Reading it is one relaxed atomic load while the store is healthy: it is on every Complete
/// call's path.
final class WriteHealth: Sendable {
    private let refusing = Atomic<Bool>(false)
    private let reason = LockedState<StoreError?>(nil)
    /// Monotonic nanoseconds of the last probe; probes are spaced ``probeIntervalNanoseconds``.
    private let lastProbe = Atomic<UInt64>(0)
    static let probeIntervalNanoseconds: UInt64 = 1_000_000_000

    /// Why writes are refused now, or nil while they succeed.
    var refusal: StoreError? {
        guard refusing.load(ordering: .acquiring) else { return nil }
        return reason.withLock { $0 }
    }

    /// Called by the writer for every failed job or commit; returns whether it counted.
    @discardableResult
    func recordFailure(_ error: any Error) -> Bool {
        guard let error = error as? StoreError, Self.isStoreWide(error.kind) else { return false }
        reason.withLock { $0 = error }
        refusing.store(true, ordering: .releasing)
        return true
    }

    /// Called when a probe write committed: writes have room again.
    func recordSuccess() {
        guard refusing.load(ordering: .relaxed) else { return }
        reason.withLock { $0 = nil }
        refusing.store(false, ordering: .releasing)
    }

    /// True at most once per probe interval: the caller should send a probe write now.
    func probeIsDue(now: UInt64 = monotonicNanoseconds()) -> Bool {
        let last = lastProbe.load(ordering: .relaxed)
        guard now &- last >= Self.probeIntervalNanoseconds || last == 0 else { return false }
        return lastProbe.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged
    }

    /// Failures of the store as a whole rather than of one write's content.
    static func isStoreWide(_ kind: StoreError.Kind) -> Bool {
        kind == .mapFull || kind == .io || kind == .dataCorrupted
    }
}
