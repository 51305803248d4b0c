import Synchronization
import XCTest

@testable import PelletServer

final class RecentLatenciesTests: XCTestCase {
    /// A clock the test moves by hand.
    final class ManualClock: Sendable {
        private let nanoseconds = Atomic<UInt64>(1_000_000_000_000)
        var now: UInt64 { nanoseconds.load(ordering: .relaxed) }
        func advance(seconds: UInt64) { nanoseconds.add(seconds * 1_000_000_000, ordering: .relaxed) }
    }

    func testBucketsAreExactBelow64AndWithin3PercentAbove() {
        for value: UInt64 in [0, 1, 63] {
            XCTAssertEqual(RecentLatencies.highestValue(inBucket: RecentLatencies.bucket(of: value)), value)
        }
        var previous = -1
        for value in stride(from: UInt64(64), to: 10_000_000, by: 997) {
            let bucket = RecentLatencies.bucket(of: value)
            XCTAssertGreaterThanOrEqual(bucket, previous, "buckets grow with the value")
            previous = bucket
            let top = RecentLatencies.highestValue(inBucket: bucket)
            XCTAssertGreaterThanOrEqual(top, value)
            XCTAssertLessThanOrEqual(Double(top - value) / Double(value), 1.0 / 32, "value \(value), top \(top)")
        }
        XCTAssertLessThan(RecentLatencies.bucket(of: .max), RecentLatencies.bucketCount)
        XCTAssertEqual(RecentLatencies.bucket(of: .max), RecentLatencies.bucketCount - 1)
    }

    func testPercentilesOfKnownValues() {
        let clock = ManualClock()
        let latencies = RecentLatencies(nanosecondsNow: { clock.now })
        XCTAssertEqual(latencies.summary(), RecentLatencies.Summary())
        clock.advance(seconds: 1)
        for value: UInt64 in 1...100 { latencies.record(microseconds: value * 10) }
        let summary = latencies.summary()
        XCTAssertEqual(summary.count, 100)
        // The 50th value is 500 µs and the 99th 990 µs, each reported as the top of its bucket.
        XCTAssertEqual(summary.p50, RecentLatencies.highestValue(inBucket: RecentLatencies.bucket(of: 500)))
        XCTAssertEqual(summary.p99, RecentLatencies.highestValue(inBucket: RecentLatencies.bucket(of: 990)))
        XCTAssertEqual(summary.p50, 503)
    }

    func testOnlyTheLastMinuteCounts() {
        let clock = ManualClock()
        let latencies = RecentLatencies(nanosecondsNow: { clock.now })
        for _ in 0..<10 { latencies.record(microseconds: 40) }
        clock.advance(seconds: 30)
        for _ in 0..<10 { latencies.record(microseconds: 60) }
        clock.advance(seconds: 1)
        XCTAssertEqual(latencies.summary(), RecentLatencies.Summary(count: 20, p50: 40, p99: 60))

        // 61 s after the first values: they are out of the window, the later ones still in it.
        clock.advance(seconds: 30)
        XCTAssertEqual(latencies.summary(), RecentLatencies.Summary(count: 10, p50: 60, p99: 60))

        // A slot reused after a minute starts empty.
        clock.advance(seconds: 29)
        latencies.record(microseconds: 7)
        clock.advance(seconds: 1)
        XCTAssertEqual(latencies.summary(), RecentLatencies.Summary(count: 1, p50: 7, p99: 7))

        clock.advance(seconds: 120)
        XCTAssertEqual(latencies.summary(), RecentLatencies.Summary())
    }

    func testASummaryIsCachedForASecond() {
        let clock = ManualClock()
        let latencies = RecentLatencies(nanosecondsNow: { clock.now })
        latencies.record(microseconds: 10)
        XCTAssertEqual(latencies.summary().count, 1)
        latencies.record(microseconds: 10)
        XCTAssertEqual(latencies.summary().count, 1, "the same second: the cached summary")
        clock.advance(seconds: 1)
        XCTAssertEqual(latencies.summary().count, 2)
    }

    func testConcurrentRecordingLosesNothingWithinASlot() async {
        let clock = ManualClock()
        let latencies = RecentLatencies(nanosecondsNow: { clock.now })
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for index in 0..<10_000 { latencies.record(microseconds: UInt64(task * 100 + index % 100)) }
                }
            }
        }
        clock.advance(seconds: 1)
        XCTAssertEqual(latencies.summary().count, 80_000)
    }
}
