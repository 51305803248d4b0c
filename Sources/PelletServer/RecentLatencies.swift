import NIOCore
import Synchronization

/// Durations recorded from any thread without a lock, summarised as percentiles over about the
/// last minute (Health's gateway overhead).
///
/// Values, in microseconds, go into log-linear buckets (HdrHistogram's layout with 32 sub-buckets
/// per power of two: exact below 64 µs, within 3% above) of relaxed atomic counters, one set of
/// buckets per 10-second slot in a ring of six. Recording is one atomic add, plus a
/// compare-exchange by the one thread that moves a slot on to a new 10 seconds and clears it
/// (recordings into that slot wait the microsecond the clearing takes, so none is wiped out).
/// A summary merges the slots of the last 50 to 60 seconds; it is cached for a second, since
/// Health may be asked for often and the merge reads 6,144 counters.
///
/// Only a recording whose clock read is older than its slot's epoch (a thread descheduled across
/// a 10-second boundary) is dropped.
public final class RecentLatencies: @unchecked Sendable {
    // @unchecked: the two buffers are only ever touched through their atomics.

    /// Percentiles of the recorded durations, in microseconds (the highest value of the bucket
    /// that holds the percentile, as HdrHistogram reports it).
    public struct Summary: Sendable, Equatable {
        public var count: UInt64
        public var p50: UInt64
        public var p99: UInt64

        public init(count: UInt64 = 0, p50: UInt64 = 0, p99: UInt64 = 0) {
            self.count = count
            self.p50 = p50
            self.p99 = p99
        }
    }

    static let slotCount = 6
    static let slotNanoseconds: UInt64 = 10_000_000_000
    static let bucketCount = 1024
    /// Larger values are counted as this (about 19 hours).
    static let largestTrackable: UInt64 = (1 << 36) - 1

    private let buckets: UnsafeMutablePointer<Atomic<UInt64>>
    /// Each slot's 10-second epoch plus one; 0 for a slot never used.
    private let slotEpochs: UnsafeMutablePointer<Atomic<UInt64>>
    private let nanosecondsNow: @Sendable () -> UInt64
    private let cachedSummary = Mutex<(second: UInt64, summary: Summary)?>(nil)

    /// - Parameter nanosecondsNow: a monotonic clock (tests pass their own).
    public init(nanosecondsNow: @escaping @Sendable () -> UInt64 = { NIODeadline.now().uptimeNanoseconds }) {
        self.nanosecondsNow = nanosecondsNow
        let total = Self.slotCount * Self.bucketCount
        buckets = .allocate(capacity: total)
        for index in 0..<total { (buckets + index).initialize(to: Atomic(0)) }
        slotEpochs = .allocate(capacity: Self.slotCount)
        for slot in 0..<Self.slotCount { (slotEpochs + slot).initialize(to: Atomic(0)) }
    }

    deinit {
        buckets.deinitialize(count: Self.slotCount * Self.bucketCount)
        buckets.deallocate()
        slotEpochs.deinitialize(count: Self.slotCount)
        slotEpochs.deallocate()
    }

    public func record(microseconds: UInt64) {
        let stamp = nanosecondsNow() / Self.slotNanoseconds + 1
        let slot = Int(stamp % UInt64(Self.slotCount))
        var seen = slotEpochs[slot].load(ordering: .acquiring)
        while seen != stamp {
            if seen & Self.clearing != 0 {
                // Another thread is clearing the slot: for a newer 10 seconds, this value is
                // too old to count; otherwise wait the microsecond the clearing takes, so that
                // it cannot wipe this value out after it is added.
                guard seen & ~Self.clearing <= stamp else { return }
            } else {
                // A thread whose clock read is older than the slot's epoch drops its value rather
                // than count it in the wrong 10 seconds.
                guard seen < stamp else { return }
                if slotEpochs[slot].compareExchange(
                    expected: seen, desired: stamp | Self.clearing, ordering: .acquiringAndReleasing
                ).exchanged {
                    let first = slot * Self.bucketCount
                    for index in first..<(first + Self.bucketCount) { buckets[index].store(0, ordering: .relaxed) }
                    slotEpochs[slot].store(stamp, ordering: .releasing)
                    break
                }
            }
            seen = slotEpochs[slot].load(ordering: .acquiring)
        }
        buckets[slot * Self.bucketCount + Self.bucket(of: microseconds)].add(1, ordering: .relaxed)
    }

    /// Marks a slot's epoch while the thread that moved it on clears its buckets.
    static let clearing: UInt64 = 1 << 63

    /// The percentiles of the values recorded in the last 50 to 60 seconds.
    public func summary() -> Summary {
        let now = nanosecondsNow()
        let second = now / 1_000_000_000
        if let cached = cachedSummary.withLock({ $0 }), cached.second == second {
            return cached.summary
        }
        let summary = computeSummary(currentStamp: now / Self.slotNanoseconds + 1)
        cachedSummary.withLock { $0 = (second, summary) }
        return summary
    }

    private func computeSummary(currentStamp: UInt64) -> Summary {
        var counts = [UInt64](repeating: 0, count: Self.bucketCount)
        for slot in 0..<Self.slotCount {
            let stamp = slotEpochs[slot].load(ordering: .acquiring)
            guard stamp != 0, stamp <= currentStamp, currentStamp - stamp < UInt64(Self.slotCount) else { continue }
            let first = slot * Self.bucketCount
            for index in 0..<Self.bucketCount {
                counts[index] &+= buckets[first + index].load(ordering: .relaxed)
            }
        }
        let total = counts.reduce(0, &+)
        guard total > 0 else { return Summary() }
        return Summary(
            count: total, p50: Self.percentile(0.50, of: counts, total: total),
            p99: Self.percentile(0.99, of: counts, total: total))
    }

    static func percentile(_ quantile: Double, of counts: [UInt64], total: UInt64) -> UInt64 {
        let rank = max(1, UInt64((quantile * Double(total)).rounded(.up)))
        var seen: UInt64 = 0
        for (index, count) in counts.enumerated() {
            seen += count
            if seen >= rank { return highestValue(inBucket: index) }
        }
        return highestValue(inBucket: counts.count - 1)
    }

    /// Values below 64 have a bucket each; above, each power of two splits into 32 buckets.
    static func bucket(of value: UInt64) -> Int {
        let value = min(value, largestTrackable)
        if value < 64 { return Int(value) }
        let shift = (64 - value.leadingZeroBitCount) - 6
        let mantissa = Int(value >> UInt64(shift))
        return 64 + (shift - 1) * 32 + (mantissa - 32)
    }

    static func highestValue(inBucket index: Int) -> UInt64 {
        if index < 64 { return UInt64(index) }
        let shift = (index - 64) / 32 + 1
        let mantissa = UInt64((index - 64) % 32 + 32)
        return ((mantissa + 1) << UInt64(shift)) - 1
    }
}
