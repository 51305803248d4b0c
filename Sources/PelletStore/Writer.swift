import CLMDB
import Foundation
import Logging
import PelletWire
import Synchronization

/// A unit of work for the writer thread.
protocol WriteJob: AnyObject, Sendable {
    /// True for work that must have a top-level transaction to itself (opening a table: LMDB
    /// forbids `mdb_dbi_open` in a transaction that might be rolled back under others' writes).
    var runsAlone: Bool { get }
    /// True for a job whose `apply` only changes the transaction (no effect outside it), so it
    /// may be applied again after a rolled-back attempt: a group of such jobs shares one
    /// transaction with no nested one per job (see ``Writer/commitGroup(_:)``).
    var isReplayable: Bool { get }
    /// Applies the job's changes; runs on the writer thread.
    func apply(_ transaction: WriteTransaction) throws
    /// The commit holding the job's changes succeeded (in `.full` durability: and is on disk).
    func succeed()
    /// The job's changes were not committed.
    func fail(_ error: any Error)
}

extension WriteJob {
    var isReplayable: Bool { false }
}

/// Work that needs the writer thread to itself with no transaction open (compaction swaps the
/// data file under the environment): the writer commits the jobs queued before it, calls `run`
/// instead of `apply`, and only then goes on with the jobs queued after it, so no write can
/// commit while it runs. `run` completes the job itself; `runsAlone` must be true.
protocol ExclusiveWork: WriteJob {
    func run()
}

/// A job whose caller hears of its result: `completion` runs on the writer thread once the
/// commit holding it succeeded or failed (``Store/write(_:completion:)``, and the async
/// ``Store/write(_:)`` through a continuation).
///
/// `@unchecked Sendable` is safe because `value` is written by `apply` and read by `succeed`,
/// both on the writer thread; `completion` runs exactly once, by `succeed` or `fail`, which the
/// writer calls exactly once per job.
final class CallbackJob<Value: Sendable>: WriteJob, @unchecked Sendable {
    let runsAlone: Bool
    let isReplayable: Bool
    private let body: @Sendable (WriteTransaction) throws -> Value
    private let completion: @Sendable (Result<Value, any Error>) -> Void
    private var value: Value?

    init(
        runsAlone: Bool = false,
        isReplayable: Bool = false,
        body: @escaping @Sendable (WriteTransaction) throws -> Value,
        completion: @escaping @Sendable (Result<Value, any Error>) -> Void
    ) {
        self.runsAlone = runsAlone
        self.isReplayable = isReplayable
        self.body = body
        self.completion = completion
    }

    func apply(_ transaction: WriteTransaction) throws {
        value = try body(transaction)
    }

    func succeed() {
        if let value {
            completion(.success(value))
        } else {
            completion(.failure(StoreError(kind: .io, message: "a write completed without a result")))
        }
    }

    func fail(_ error: any Error) {
        completion(.failure(error))
    }
}

/// A job nobody waits for (e.g. recording a key's last use); a failure is only logged.
final class DetachedJob: WriteJob, Sendable {
    let runsAlone = false
    /// Its body only writes in the transaction (``Store/writeDetached(_:_:)``).
    let isReplayable = true
    private let body: @Sendable (WriteTransaction) throws -> Void
    private let logger: Logger
    private let what: String

    init(_ what: String, logger: Logger, body: @escaping @Sendable (WriteTransaction) throws -> Void) {
        self.what = what
        self.logger = logger
        self.body = body
    }

    func apply(_ transaction: WriteTransaction) throws { try body(transaction) }
    func succeed() {}
    func fail(_ error: any Error) {
        logger.warning("a background write failed", metadata: ["store.write": "\(what)", "error": "\(error)"])
    }
}

/// The thread that writes to LMDB, and the rule for when a caller may write on its own thread.
///
/// Callers enqueue jobs; the thread takes everything queued, applies it in one transaction
/// (group commit: one sync for many writes), commits, and only then completes the callers.
/// Each job runs in a nested transaction when it shares the commit with others, so a job that
/// throws is rolled back alone; a group of replayable jobs (metering events, key touches) is
/// first applied without nesting, and only if one of them throws is it applied again nested.
/// The same thread reclaims dead readers' slots now and then; the
/// batched-durability sync runs on a thread of its own (``PeriodicSync``).
///
/// In `.batched` durability a commit is a few page writes, no sync, so a short write may be
/// committed on the caller's own thread (``commitOnCallingThread(_:)``): that saves waking the
/// writer thread and the hop back to the caller, which cost more than the commit. Only while
/// the writer is idle (nothing queued, no batch in hand, no other caller committing): otherwise
/// the job joins the queue and its group commit, so callers never queue up on LMDB's write lock
/// and the order of queued work (a compaction after the writes before it) is kept.
///
/// `@unchecked Sendable` is safe because the mutable state (`queue`, `stopping`, `stopped`,
/// `writerBusy`, `callerCommitting`) is only touched with `condition` locked, and each LMDB write
/// transaction lives and dies on the thread that began it (the writer thread, or a caller
/// committing on its own thread).
final class Writer: @unchecked Sendable {
    private let environment: Environment
    private let logger: Logger
    /// Set in `.batched` durability.
    private let periodicSync: PeriodicSync?
    private let readerCheckIntervalNanoseconds: UInt64
    private let condition = NSCondition()
    private var queue: [any WriteJob] = []
    private var stopping = false
    private var stopped = false
    /// The writer thread holds a batch, from taking it until its jobs are completed.
    private var writerBusy = false
    /// A caller is committing on its own thread (``commitOnCallingThread(_:)``).
    private var callerCommitting = false
    /// Whether callers may commit on their own thread: in `.batched` durability only (in `.full`
    /// every commit syncs, and that wait belongs on the writer thread, shared by a group).
    private let callersMayCommit: Bool
    /// Runs on the writer thread after the last commit (closing the environment).
    private var finalizer: (@Sendable () -> Void)?
    private var writerThread: pthread_t?

    struct Counters {
        /// Top-level commits that succeeded; lets tests see that writes are grouped.
        var commits = 0
        /// Syncs made by the batched-durability timer.
        var timedSyncs = 0
    }

    let counters = LockedState(Counters())
    /// Whether writes succeed: failures of the store itself are recorded here, and cleared only
    /// by a probe write that finds room (``Store/probeWritesIfRefusing()``).
    let health = WriteHealth()
    /// Jobs queued and not yet taken by the writer thread, for the metrics; kept beside `queue`
    /// so that a scrape reads it without the writer's lock.
    let queueDepth = Atomic<Int>(0)
    /// Each successful top-level commit's time, from the transaction's begin to the commit's
    /// return (in `.full` durability that includes the sync).
    let commitDurations = DurationHistograms(boundsSeconds: DurationHistograms.latencyBoundsSeconds)

    init(environment: Environment, configuration: StoreConfiguration, logger: Logger) {
        self.environment = environment
        self.logger = logger
        self.readerCheckIntervalNanoseconds = max(1_000_000, configuration.readerCheckInterval.nanoseconds)
        self.callersMayCommit = configuration.durability == .batched
        if configuration.durability == .batched {
            let counters = self.counters
            periodicSync = PeriodicSync(
                environment: environment, interval: configuration.batchedFlushInterval, logger: logger,
                onSync: { counters.withLock { $0.timedSyncs += 1 } }
            )
        } else {
            periodicSync = nil
        }
        let thread = Thread { [self] in run() }
        thread.name = "pellet-writer"
        thread.start()
    }

    /// Queues a job; fails it at once if the writer has stopped.
    func enqueue(_ job: any WriteJob) {
        condition.lock()
        guard !stopping else {
            condition.unlock()
            job.fail(StoreError.closed)
            return
        }
        queue.append(job)
        queueDepth.store(queue.count, ordering: .relaxed)
        condition.signal()
        condition.unlock()
    }

    /// Commits `job` on the calling thread if the writer is idle and durability is `.batched`
    /// (its `succeed` or `fail` runs on the calling thread before this returns); otherwise
    /// queues it like ``enqueue(_:)``. For short jobs only: the caller's thread holds LMDB's
    /// write lock while the job runs. Not for jobs that run alone.
    func commitOnCallingThread(_ job: any WriteJob) {
        condition.lock()
        guard callersMayCommit, !stopping, !writerBusy, !callerCommitting, queue.isEmpty else {
            condition.unlock()
            return enqueue(job)
        }
        callerCommitting = true
        condition.unlock()

        let result = commitAlone(job)
        if case .success = result { periodicSync?.noteCommit() }

        condition.lock()
        callerCommitting = false
        // The writer thread may wait for this commit (before exclusive work, or to close).
        if writerBusy || stopping { condition.broadcast() }
        condition.unlock()
        // Completed with the write slot free: a completion may write again, or close the store.
        switch result {
        case .success: job.succeed()
        case .failure(let error): job.fail(error)
        }
    }

    /// Waits until no caller is committing on its own thread. Called on the writer thread with
    /// `writerBusy` set (or `stopping`), so that none can start afterwards.
    private func waitForCallerCommits() {
        condition.lock()
        while callerCommitting {
            condition.wait()
        }
        condition.unlock()
    }

    /// Commits everything queued, stops the thread, and runs `finalizer` on it as its last act;
    /// returns once that is done. Called on the writer thread itself (the store's last
    /// reference released by a job's closure), it returns at once and the thread finishes
    /// the work after the current job, instead of waiting for itself forever.
    func stop(finally finalizer: @escaping @Sendable () -> Void) {
        condition.lock()
        defer { condition.unlock() }
        stopping = true
        self.finalizer = finalizer
        condition.broadcast()
        if let writerThread, pthread_equal(writerThread, pthread_self()) != 0 {
            return
        }
        while !stopped {
            condition.wait()
        }
    }

    private func run() {
        nameCurrentThread("pellet-writer")
        condition.lock()
        writerThread = pthread_self()
        condition.unlock()
        var nextReaderCheck = monotonicNanoseconds() &+ readerCheckIntervalNanoseconds
        while true {
            condition.lock()
            while queue.isEmpty && !stopping {
                let deadline = nextReaderCheck
                let now = monotonicNanoseconds()
                guard now < deadline else { break }
                _ = condition.wait(until: Date(timeIntervalSinceNow: Double(deadline - now) / 1e9))
            }
            let batch = queue
            queue.removeAll(keepingCapacity: true)
            queueDepth.store(0, ordering: .relaxed)
            let finished = stopping && batch.isEmpty
            if !batch.isEmpty { writerBusy = true }
            condition.unlock()

            if !batch.isEmpty {
                // A caller's commit in progress only delays this one: LMDB's write lock
                // serializes them.
                commit(batch)
                periodicSync?.noteCommit()
                condition.lock()
                writerBusy = false
                condition.unlock()
            }
            if finished {
                // No caller starts a commit once `stopping` is set; the last one ends before the
                // environment closes.
                waitForCallerCommits()
            }
            if finished, let periodicSync {
                // The last commits reach the disk before the environment closes.
                periodicSync.stop()
                syncToDisk()
            }
            let now = monotonicNanoseconds()
            if now >= nextReaderCheck {
                reclaimDeadReaders()
                nextReaderCheck = now &+ readerCheckIntervalNanoseconds
            }
            if finished { break }
        }
        condition.lock()
        let finalizer = self.finalizer
        condition.unlock()
        finalizer?()
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    /// Splits the batch around jobs that must run alone and commits each group.
    private func commit(_ batch: [any WriteJob]) {
        var group: [any WriteJob] = []
        for job in batch {
            if job.runsAlone {
                commitGroup(group)
                group.removeAll()
                // Checked only for jobs that run alone: the cast stays off the common path.
                if let exclusive = job as? any ExclusiveWork {
                    // Nothing else may be writing while it runs (it may replace the handle).
                    waitForCallerCommits()
                    // No sync may run while the work replaces the environment's handle.
                    if let periodicSync {
                        periodicSync.whilePaused { exclusive.run() }
                    } else {
                        exclusive.run()
                    }
                } else {
                    commitGroup([job])
                }
            } else {
                group.append(job)
            }
        }
        commitGroup(group)
    }

    private func commitGroup(_ jobs: [any WriteJob]) {
        guard !jobs.isEmpty else { return }
        if jobs.count == 1 {
            switch commitAlone(jobs[0]) {
            case .success: jobs[0].succeed()
            case .failure(let error): jobs[0].fail(error)
            }
            return
        }
        if jobs.allSatisfy(\.isReplayable) {
            // Applied straight into one top-level transaction: no nested transaction per job,
            // whose begin and commit in LMDB (a dirty-page list allocated and merged each time)
            // cost more than a metering event's few puts. When a job throws, nothing is committed
            // and no job completed: the jobs are replayable, so they are applied again below,
            // each in a nested transaction, and only the failing one is rolled back.
            let committed = commitTopLevel(jobs) { top in
                let transaction = WriteTransaction(handle: top)
                for job in jobs {
                    do { try job.apply(transaction) } catch { return nil }
                }
                return jobs
            }
            if committed { return }
        }
        commitTopLevel(jobs) { top in
            var applied: [any WriteJob] = []
            for job in jobs {
                switch apply(job, nestedIn: top) {
                case .success: applied.append(job)
                case .failure(let error): health.recordFailure(error)
                }
            }
            return applied
        }
    }

    /// Begins a top-level transaction for a group, lets `applyJobs` apply the jobs in it (it
    /// returns the jobs applied, or nil to abort with no job completed), commits, and completes
    /// the jobs applied. A failed begin or commit fails every job. Returns false only when
    /// `applyJobs` returned nil.
    @discardableResult
    private func commitTopLevel(
        _ jobs: [any WriteJob], applyJobs: (OpaquePointer) -> [any WriteJob]?
    ) -> Bool {
        let began = monotonicNanoseconds()
        var top: OpaquePointer?
        let beginCode = mdb_txn_begin(environment.handle, nil, 0, &top)
        guard beginCode == MDB_SUCCESS, let top else {
            let error = StoreError(code: beginCode, context: "cannot begin a write transaction")
            health.recordFailure(error)
            jobs.forEach { $0.fail(error) }
            return true
        }
        guard let applied = applyJobs(top) else {
            mdb_txn_abort(top)
            return false
        }
        guard !applied.isEmpty else {
            mdb_txn_abort(top)
            return true
        }
        // In `.full` durability this also syncs (no MDB_NOSYNC), before any caller hears back.
        let commitCode = mdb_txn_commit(top)
        guard commitCode == MDB_SUCCESS else {
            let error = StoreError(code: commitCode, context: "cannot commit")
            logger.error("a commit failed", metadata: ["error": "\(error)", "store.jobs": "\(applied.count)"])
            health.recordFailure(error)
            applied.forEach { $0.fail(error) }
            return true
        }
        commitDurations.record(nanoseconds: monotonicNanoseconds() &- began)
        counters.withLock { $0.commits += 1 }
        applied.forEach { $0.succeed() }
        return true
    }

    /// Applies and commits one job in a transaction of its own, on the calling thread (the
    /// writer's, or a caller's in ``commitOnCallingThread(_:)``); records the commit or the
    /// failure, and leaves completing the job to the caller. Nothing else shares the
    /// transaction, so the job's failure can roll back all of it, with no nested transaction.
    private func commitAlone(_ job: any WriteJob) -> Result<Void, any Error> {
        let began = monotonicNanoseconds()
        // In `.full` durability the commit also syncs (no MDB_NOSYNC), before any caller hears back.
        if case .failure(let failure) = transact(job, nestedIn: nil) {
            if failure.step == .commit {
                logger.error("a commit failed", metadata: ["error": "\(failure.error)", "store.jobs": "1"])
            }
            health.recordFailure(failure.error)
            return .failure(failure.error)
        }
        commitDurations.record(nanoseconds: monotonicNanoseconds() &- began)
        counters.withLock { $0.commits += 1 }
        return .success(())
    }

    /// Runs one job in a nested transaction of `parent`; on failure only its changes are rolled
    /// back (and it is failed at once). Succeeds when its changes are in `parent`.
    private func apply(_ job: any WriteJob, nestedIn parent: OpaquePointer) -> Result<Void, any Error> {
        if case .failure(let failure) = transact(job, nestedIn: parent) {
            job.fail(failure.error)
            return .failure(failure.error)
        }
        return .success(())
    }

    /// Where a transaction of ``transact(_:nestedIn:)`` failed, and why.
    private struct TransactionFailure: Error {
        enum Step { case begin, apply, commit }
        let step: Step
        let error: any Error
    }

    /// Begins a transaction (nested in `parent`, or a top-level one), applies `job` and
    /// commits. On any failure the transaction is gone (aborted, or freed by the failed
    /// commit) and a parent is left as it was.
    private func transact(_ job: any WriteJob, nestedIn parent: OpaquePointer?) -> Result<Void, TransactionFailure> {
        let kind = parent == nil ? "" : " nested"
        var transaction: OpaquePointer?
        let beginCode = mdb_txn_begin(environment.handle, parent, 0, &transaction)
        guard beginCode == MDB_SUCCESS, let transaction else {
            let error = StoreError(code: beginCode, context: "cannot begin a\(kind) write transaction")
            return .failure(TransactionFailure(step: .begin, error: error))
        }
        do {
            try job.apply(WriteTransaction(handle: transaction))
        } catch {
            mdb_txn_abort(transaction)
            return .failure(TransactionFailure(step: .apply, error: error))
        }
        let commitCode = mdb_txn_commit(transaction)
        guard commitCode == MDB_SUCCESS else {
            let context = parent == nil ? "cannot commit" : "cannot commit a nested write transaction"
            return .failure(TransactionFailure(step: .commit, error: StoreError(code: commitCode, context: context)))
        }
        return .success(())
    }

    private func syncToDisk() {
        do {
            try environment.sync()
            counters.withLock { $0.timedSyncs += 1 }
        } catch {
            logger.error("the batched sync failed", metadata: ["error": "\(error)"])
        }
    }

    private func reclaimDeadReaders() {
        do {
            let cleared = try environment.checkReaders()
            if cleared > 0 {
                logger.notice("reclaimed reader slots of dead processes", metadata: ["store.readers": "\(cleared)"])
            }
        } catch {
            logger.warning("the reader check failed", metadata: ["error": "\(error)"])
        }
    }
}

func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
}

/// Names the calling thread for `top -H`, `perf` and /proc (the kernel keeps 15 bytes):
/// Foundation's `Thread.name` does not reach the kernel here, and Swift does not see
/// `pthread_setname_np`, so the name is written where the kernel reads it.
func nameCurrentThread(_ name: String) {
    #if os(Linux)
    let descriptor = open("/proc/thread-self/comm", O_WRONLY)
    guard descriptor >= 0 else { return }
    _ = name.utf8CString.withUnsafeBufferPointer { write(descriptor, $0.baseAddress, min(15, $0.count - 1)) }
    close(descriptor)
    #endif
}
