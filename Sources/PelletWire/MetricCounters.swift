import Synchronization

/// A fixed set of counters that any thread adds to without a lock or an allocation: one relaxed
/// atomic add. The building block of Prometheus counters and histograms (the store's commit
/// durations, the server's call figures), here because PelletWire is the lowest module that the
/// store and the server share.
///
/// A scrape reads each counter on its own, so a scrape that races a recording may see a
/// histogram's count one ahead of its sum: Prometheus tolerates that, and a lock on every
/// recording would cost every call.
public final class MetricCounters: @unchecked Sendable {
    // @unchecked: the buffer is only ever touched through its atomics, and freed in deinit.
    private let values: UnsafeMutablePointer<Atomic<UInt64>>
    public let count: Int

    public init(count: Int) {
        self.count = count
        values = .allocate(capacity: max(1, count))
        for index in 0..<count { (values + index).initialize(to: Atomic(0)) }
    }

    deinit {
        values.deinitialize(count: count)
        values.deallocate()
    }

    @inline(__always)
    public func add(_ amount: UInt64 = 1, at index: Int) {
        values[index].wrappingAdd(amount, ordering: .relaxed)
    }

    @inline(__always)
    public func store(_ value: UInt64, at index: Int) {
        values[index].store(value, ordering: .relaxed)
    }

    public subscript(index: Int) -> UInt64 {
        values[index].load(ordering: .relaxed)
    }
}

/// A family of Prometheus histograms over the same bucket bounds, one per label set (`series`),
/// recorded in nanoseconds and rendered in seconds.
///
/// Each series holds one counter per bucket (not cumulative: a recording touches one bucket),
/// one for values above the last bound, and the sum; the count is the buckets' total.
public final class DurationHistograms: Sendable {
    /// Upper bounds of the buckets, in nanoseconds, ascending.
    public let boundsNanoseconds: [UInt64]
    public let series: Int
    private let counters: MetricCounters
    private var stride: Int { boundsNanoseconds.count + 2 }

    public init(boundsSeconds: [Double], series: Int = 1) {
        boundsNanoseconds = boundsSeconds.map { UInt64($0 * 1e9) }
        self.series = series
        counters = MetricCounters(count: series * (boundsSeconds.count + 2))
    }

    /// Prometheus' usual latency buckets with finer steps below a millisecond, 50 µs to 60 s.
    public static let latencyBoundsSeconds: [Double] = [
        0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
        30, 60,
    ]

    @inline(__always)
    public func record(nanoseconds: UInt64, series index: Int = 0) {
        let base = index * stride
        var bucket = 0
        // A linear scan: about twenty compares beat a binary search's branches at this size.
        while bucket < boundsNanoseconds.count, nanoseconds > boundsNanoseconds[bucket] { bucket += 1 }
        counters.add(at: base + bucket)
        counters.add(nanoseconds, at: base + boundsNanoseconds.count + 1)
    }

    /// One series' state: cumulative bucket counts (the last is +Inf, the count), and the sum.
    public func snapshot(series index: Int = 0) -> (cumulative: [UInt64], sumNanoseconds: UInt64) {
        let base = index * stride
        var cumulative: [UInt64] = []
        cumulative.reserveCapacity(boundsNanoseconds.count + 1)
        var running: UInt64 = 0
        for bucket in 0...boundsNanoseconds.count {
            running &+= counters[base + bucket]
            cumulative.append(running)
        }
        return (cumulative, counters[base + boundsNanoseconds.count + 1])
    }
}
