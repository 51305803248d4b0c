import Synchronization

/// Counts and histograms of the measured calls. Merged from the recorder's shards at each
/// progress tick and at the end.
public struct LoadTally: Sendable {
    public var sent: UInt64 = 0
    /// Calls that got an answer, OK or not (those abandoned at the end are sent, not completed).
    public var completed: UInt64 = 0
    public var outcomes: [LoadOutcome: UInt64] = [:]
    /// Every answered call, OK or not: errors that come back fast or slow are part of what a
    /// caller sees (as wrk and wrk2 count them).
    public var latency = LatencyHistogram()
    /// Time to the first streamed chunk of the calls that had one.
    public var firstChunk = LatencyHistogram()
    /// Open loop: from each request's scheduled time to when it actually left, the wait for a
    /// free worker plus the generator's own timer lateness. It tells how much of the latency was
    /// spent before the request reached the wire.
    public var sendDelay = LatencyHistogram()

    public init() {}

    public var errors: UInt64 { completed - (outcomes[.ok] ?? 0) }

    public mutating func add(_ other: LoadTally) {
        sent += other.sent
        completed += other.completed
        outcomes.merge(other.outcomes, uniquingKeysWith: +)
        latency.add(other.latency)
        firstChunk.add(other.firstChunk)
        sendDelay.add(other.sendDelay)
    }

    /// One answered call; durations in nanoseconds from its start (scheduled start in open loop).
    public mutating func record(
        _ outcome: LoadOutcome,
        latencyNanoseconds: UInt64,
        firstChunkNanoseconds: UInt64?,
        sendDelayNanoseconds: UInt64? = nil
    ) {
        completed += 1
        outcomes[outcome, default: 0] += 1
        latency.record(nanoseconds: latencyNanoseconds)
        if let firstChunkNanoseconds { firstChunk.record(nanoseconds: firstChunkNanoseconds) }
        if let sendDelayNanoseconds { sendDelay.record(nanoseconds: sendDelayNanoseconds) }
    }
}

/// Where workers record their calls.
///
/// Recording takes a `Mutex`, briefly (a counter and a histogram slot), per call. Workers are
/// spread over a few shards, so the lock is shared by few workers and rarely contended; the
/// progress tick merges the shards once a second. This keeps memory fixed (a histogram is about
/// 200 KB) however many workers there are, which per-worker histograms would not.
public final class LoadRecorder: Sendable {
    /// A class, since an array cannot hold a `Mutex` (it is not copyable).
    private final class Shard: Sendable {
        let tally = Mutex(LoadTally())
    }

    private let shards: [Shard]

    public init(workers: Int, maxShards: Int = 8) {
        shards = (0..<max(1, min(workers, maxShards))).map { _ in Shard() }
    }

    public func markSent(worker: Int) {
        shards[worker % shards.count].tally.withLock { $0.sent += 1 }
    }

    public func record(
        worker: Int,
        _ outcome: LoadOutcome,
        latencyNanoseconds: UInt64,
        firstChunkNanoseconds: UInt64?,
        sendDelayNanoseconds: UInt64? = nil
    ) {
        shards[worker % shards.count].tally.withLock {
            $0.record(
                outcome,
                latencyNanoseconds: latencyNanoseconds,
                firstChunkNanoseconds: firstChunkNanoseconds,
                sendDelayNanoseconds: sendDelayNanoseconds
            )
        }
    }

    /// A worker's own tally, counted without the lock and handed over at intervals.
    public func add(_ tally: LoadTally, worker: Int) {
        shards[worker % shards.count].tally.withLock { $0.add(tally) }
    }

    /// The shards merged. Each is copied under its lock (copy-on-write, so cheap there) and
    /// merged outside it.
    public func snapshot() -> LoadTally {
        var total = LoadTally()
        for shard in shards {
            let copy = shard.tally.withLock { $0 }
            total.add(copy)
        }
        return total
    }
}
