import Foundation
import Logging

/// `.batched` durability's sync: the data file is synced at most ``interval`` after a commit, on
/// a thread of its own, so the writer never waits for an fsync. A commit that lands while a
/// sync runs marks the store dirty again and the next sync covers it.
///
/// Commits are written to the file (not synced) before their callers hear back, so an answered
/// write survives a crash of the process at once; a power loss can lose what was committed in
/// the last interval plus one sync's duration.
///
/// `@unchecked Sendable` is safe because `dirty`, `stopping` and `stopped` are only touched with
/// `condition` locked, and the environment's handle is only read with `syncLock` held, which
/// the writer also holds around work that replaces it (a compaction's swap).
final class PeriodicSync: @unchecked Sendable {
    private let environment: Environment
    private let intervalNanoseconds: UInt64
    private let logger: Logger
    private let condition = NSCondition()
    /// Held for the whole of a sync, and by ``whilePaused(_:)``.
    private let syncLock = NSLock()
    /// Commits happened since the last sync began.
    private var dirty = false
    private var stopping = false
    private var stopped = false
    private let onSync: @Sendable () -> Void

    init(environment: Environment, interval: Duration, logger: Logger, onSync: @escaping @Sendable () -> Void) {
        self.environment = environment
        self.intervalNanoseconds = max(1, interval.nanoseconds)
        self.logger = logger
        self.onSync = onSync
        let thread = Thread { [self] in run() }
        thread.name = "pellet-sync"
        thread.start()
    }

    /// A commit succeeded: it is synced within the interval. Wakes the thread only when the
    /// store turns dirty, so a busy writer pays one lock per commit and one wake-up per interval.
    func noteCommit() {
        condition.lock()
        if !dirty {
            dirty = true
            condition.signal()
        }
        condition.unlock()
    }

    /// Runs `body` with no sync running or able to start (the environment's handle may change).
    func whilePaused<Result>(_ body: () throws -> Result) rethrows -> Result {
        syncLock.lock()
        defer { syncLock.unlock() }
        return try body()
    }

    /// Stops the thread (a sync in progress finishes first); the caller makes the last sync.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while !stopped {
            condition.wait()
        }
        condition.unlock()
    }

    private func run() {
        nameCurrentThread("pellet-sync")
        condition.lock()
        while true {
            while !dirty && !stopping {
                condition.wait()
            }
            if stopping { break }
            // One sync for every commit of the interval that starts with the first of them.
            let due = monotonicNanoseconds() &+ intervalNanoseconds
            while !stopping {
                let now = monotonicNanoseconds()
                guard now < due else { break }
                _ = condition.wait(until: Date(timeIntervalSinceNow: Double(due - now) / 1e9))
            }
            if stopping { break }
            dirty = false
            condition.unlock()
            syncLock.lock()
            do {
                try environment.sync()
                onSync()
            } catch {
                logger.error("the batched sync failed", metadata: ["error": "\(error)"])
            }
            syncLock.unlock()
            condition.lock()
        }
        stopped = true
        condition.broadcast()
        condition.unlock()
    }
}
