import Histogram

/// Latencies in microseconds, from 1 µs to an hour at 3 significant digits (HdrHistogram): a
/// fixed ~200 KB whatever the number of calls, so recording never allocates.
public struct LatencyHistogram: Sendable {
    /// An hour: far beyond any call a run waits for; longer values are recorded as this.
    public static let highestMicroseconds: UInt64 = 3_600_000_000

    private var histogram = Histogram<UInt64>(
        lowestDiscernibleValue: 1,
        highestTrackableValue: highestMicroseconds,
        numberOfSignificantValueDigits: .three
    )

    public init() {}

    public var count: UInt64 { histogram.totalCount }

    public mutating func record(microseconds: UInt64) {
        histogram.record(min(microseconds, Self.highestMicroseconds))
    }

    /// Records a duration given in nanoseconds, rounded to the nearest microsecond.
    public mutating func record(nanoseconds: UInt64) {
        record(microseconds: (nanoseconds &+ 500) / 1_000)
    }

    public mutating func add(_ other: LatencyHistogram) {
        histogram.add(other.histogram)
    }

    /// The value at `percentile` (0...100), in microseconds; 0 when nothing was recorded.
    public func microseconds(atPercentile percentile: Double) -> UInt64 {
        histogram.totalCount == 0 ? 0 : histogram.valueAtPercentile(percentile)
    }

    public var summary: LatencySummary {
        guard histogram.totalCount > 0 else { return LatencySummary() }
        return LatencySummary(
            p50: histogram.valueAtPercentile(50),
            p90: histogram.valueAtPercentile(90),
            p99: histogram.valueAtPercentile(99),
            p999: histogram.valueAtPercentile(99.9),
            max: histogram.max,
            mean: histogram.mean
        )
    }
}

/// The report's latency figures, in microseconds.
public struct LatencySummary: Sendable, Equatable {
    public var p50: UInt64 = 0
    public var p90: UInt64 = 0
    public var p99: UInt64 = 0
    public var p999: UInt64 = 0
    public var max: UInt64 = 0
    public var mean: Double = 0

    public init() {}

    public init(p50: UInt64, p90: UInt64, p99: UInt64, p999: UInt64, max: UInt64, mean: Double) {
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.p999 = p999
        self.max = max
        self.mean = mean
    }
}
