import PelletLoadKit
import PelletWire
import XCTest

/// The report's percentiles come from HdrHistogram at 3 significant digits: a value is known to
/// within 0.1% (one part in 1,024 at worst for the bucket's width).
final class LatencyHistogramTests: XCTestCase {
    func testUniformValuesGiveTheirPercentiles() {
        var histogram = LatencyHistogram()
        for microseconds in UInt64(1)...10_000 { histogram.record(microseconds: microseconds) }
        let summary = histogram.summary
        XCTAssertEqual(histogram.count, 10_000)
        assertClose(summary.p50, 5_000)
        assertClose(summary.p90, 9_000)
        assertClose(summary.p99, 9_900)
        assertClose(summary.p999, 9_990)
        assertClose(summary.max, 10_000)
        XCTAssertEqual(summary.mean, 5_000.5, accuracy: 5)
    }

    func testSkewedValuesGiveTheTail() {
        var histogram = LatencyHistogram()
        // 990 fast calls at 100 µs and 10 slow ones at 250 ms: p99 is still fast, p99.9 is slow.
        for _ in 0..<990 { histogram.record(microseconds: 100) }
        for _ in 0..<10 { histogram.record(microseconds: 250_000) }
        let summary = histogram.summary
        assertClose(summary.p50, 100)
        assertClose(summary.p99, 100)
        assertClose(summary.p999, 250_000)
        assertClose(summary.max, 250_000)
        XCTAssertEqual(summary.mean, (990 * 100 + 10 * 250_000) / 1_000, accuracy: 300)
    }

    func testNanosecondsAreRoundedToMicroseconds() {
        var histogram = LatencyHistogram()
        histogram.record(nanoseconds: 20_000_400)
        histogram.record(nanoseconds: 20_000_600)
        XCTAssertEqual(histogram.microseconds(atPercentile: 0), 20_000, accuracy: 20)
        assertClose(histogram.microseconds(atPercentile: 100), 20_001)
    }

    func testValuesBeyondTheRangeAreClampedNotLost() {
        var histogram = LatencyHistogram()
        histogram.record(microseconds: LatencyHistogram.highestMicroseconds * 10)
        XCTAssertEqual(histogram.count, 1)
        assertClose(histogram.summary.max, LatencyHistogram.highestMicroseconds)
    }

    func testAnEmptyHistogramReportsZeros() {
        XCTAssertEqual(LatencyHistogram().summary, LatencySummary())
    }

    func testTalliesFromShardsMergeIntoOne() {
        let recorder = LoadRecorder(workers: 4)
        for worker in 0..<4 {
            for call in 0..<250 {
                recorder.markSent(worker: worker)
                let outcome: LoadOutcome = call == 0 ? .status(.unavailable) : .ok
                recorder.record(
                    worker: worker,
                    outcome,
                    latencyNanoseconds: UInt64(call + 1) * 1_000,
                    firstChunkNanoseconds: nil
                )
            }
        }
        let tally = recorder.snapshot()
        XCTAssertEqual(tally.sent, 1_000)
        XCTAssertEqual(tally.completed, 1_000)
        XCTAssertEqual(tally.errors, 4)
        XCTAssertEqual(tally.outcomes[.status(.unavailable)], 4)
        XCTAssertEqual(tally.outcomes[.ok], 996)
        assertClose(tally.latency.summary.p50, 125)
        XCTAssertEqual(tally.firstChunk.count, 0)
    }

    func testOutcomeNames() {
        XCTAssertEqual(LoadOutcome.ok.description, "OK")
        XCTAssertEqual(LoadOutcome.status(.resourceExhausted).description, "RESOURCE_EXHAUSTED")
        XCTAssertEqual(LoadOutcome.httpStatus(503).description, "HTTP_503")
        XCTAssertEqual(LoadOutcome.transportError.description, "TRANSPORT_ERROR")
    }

    private func assertClose(_ actual: UInt64, _ expected: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        let tolerance = max(1, Double(expected) / 1_000)
        XCTAssertEqual(Double(actual), Double(expected), accuracy: tolerance, file: file, line: line)
    }
}
