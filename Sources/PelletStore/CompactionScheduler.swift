import Logging
import PelletWire

/// The rule for automatic compaction: after a deletion, compact at once, unless a compaction
/// started less than `interval` ago; then at the end of that window. So compactions start at
/// most once per interval, and the bytes of a deletion are gone at most one interval (plus the
/// compaction's own run) after it. A value type with times passed in, so the rule is tested
/// without waiting.
public struct CompactionSchedule: Sendable, Equatable {
    public let intervalMilliseconds: UInt64
    /// When the last compaction started (unix ms), if one has since this process started.
    public private(set) var lastStarted: UInt64?
    /// When the next compaction is due, if one is.
    public private(set) var due: UInt64?

    public init(interval: Duration) {
        intervalMilliseconds = max(1, interval.nanoseconds / 1_000_000)
    }

    /// Something was deleted at `now`: returns when a compaction must start to erase it, if a
    /// timer has to be set for that; nil when the compaction already due covers it.
    public mutating func deletion(at now: UInt64) -> UInt64? {
        guard due == nil else { return nil }
        let windowEnd = lastStarted.map { $0 &+ intervalMilliseconds } ?? now
        let next = max(now, windowEnd)
        due = next
        return next
    }

    /// The compaction that was due starts at `now`. A deletion from now on needs another one:
    /// this one's copy may already have been taken.
    public mutating func started(at now: UInt64) {
        lastStarted = now
        due = nil
    }
}

/// Runs ``CompactionSchedule`` for real: pelletd tells it of deletions (an account deleted, a
/// retention sweep that deleted rows) and it compacts when the schedule says.
public final class CompactionScheduler: Sendable {
    private struct State {
        var schedule: CompactionSchedule
        var timer: Task<Void, Never>?
        var stopped = false
    }

    private let state: LockedState<State>
    private let now: @Sendable () -> UInt64
    private let sleep: @Sendable (Duration) async throws -> Void
    private let compact: @Sendable () async throws -> CompactionReport
    private let logger: Logger

    /// `now` (unix ms) and `sleep` are injected so tests run a day in no time; `compact` is
    /// ``Store/compact()`` outside tests.
    public init(
        interval: Duration,
        now: @escaping @Sendable () -> UInt64 = StoreConfiguration.systemClock,
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
        logger: Logger,
        compact: @escaping @Sendable () async throws -> CompactionReport
    ) {
        self.state = LockedState(State(schedule: CompactionSchedule(interval: interval)))
        self.now = now
        self.sleep = sleep
        self.logger = logger
        self.compact = compact
    }

    /// Compacts `store` (which logs each compaction).
    public convenience init(store: Store, interval: Duration, logger: Logger) {
        self.init(interval: interval, logger: logger, compact: { try await store.compact() })
    }

    /// Something was deleted: schedules a compaction unless one is already due.
    public func deletionHappened() {
        let time = now()
        state.withLock { state in
            guard !state.stopped, let due = state.schedule.deletion(at: time) else { return }
            let delay = Duration.milliseconds(Int64(clamping: due &- min(due, time)))
            state.timer = Task { [self] in
                if delay > .zero {
                    do {
                        try await sleep(delay)
                    } catch {
                        return  // stopped
                    }
                }
                await runDue()
            }
        }
    }

    private func runDue() async {
        let started = now()
        state.withLock { $0.schedule.started(at: started) }
        do {
            _ = try await compact()
        } catch {
            logger.warning(
                "automatic compaction failed; retrying when the interval allows",
                metadata: ["error": "\(error)"]
            )
            deletionHappened()
        }
    }

    /// Returns once no compaction is due or running (for tests).
    public func waitUntilIdle() async {
        while let timer = state.withLock({ $0.timer }) {
            await timer.value
            // A failed compaction sets a new timer for its retry: wait for that one too.
            let idle = state.withLock { state in
                guard state.timer == timer else { return false }
                state.timer = nil
                return true
            }
            if idle { return }
        }
    }

    /// Stops scheduling: a compaction waiting for its time runs now instead (so a deletion's
    /// bytes are gone within the interval or by the shutdown, whichever comes first), one that is
    /// running is waited for, and later deletions schedule nothing. Call it before closing the
    /// store.
    public func stop() async {
        let timer = state.withLock { state in
            state.stopped = true
            return state.timer
        }
        timer?.cancel()
        await timer?.value
        // The cancelled timer returned before starting it if it was still asleep.
        if state.withLock({ $0.schedule.due != nil }) {
            await runDue()
        }
    }

    /// The schedule as it stands, for tests and logs.
    public var schedule: CompactionSchedule { state.withLock { $0.schedule } }
}
