import Foundation
import XCTest

/// Recording a metric on a call's path costs no allocation: `pellet-load micro` runs the metrics'
/// recording benchmarks (a finished call; a Complete call's attempt, usage and overhead; a failed
/// attempt; one histogram observation) and counts every `malloc` of the process while they run, through the
/// interposed allocator only that binary links (so the test process's own threads cannot
/// disturb the count). No lock either: the recording path is relaxed atomics only, which
/// `CompleteMetrics` and `MetricCounters` say and this cannot see.
final class MetricsRecordingCostTests: XCTestCase {
    func testRecordingACallsMetricsAllocatesNothing() throws {
        // A sanitizer brings its own allocator, which the counter's interposed malloc would bypass.
        if let sanitizer = ProcessInfo.processInfo.environment["PELLET_SANITIZER"] {
            throw XCTSkip("allocations are not counted under \(sanitizer)")
        }
        let result = try Subprocess(
            Binaries.pelletLoad, ["micro", "--filter", "metrics.", "--runs", "1", "--json"]
        ).waitForExit(timeout: .seconds(120))
        XCTAssertEqual(result.status, 0, result.stderr)
        let report = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], result.stdout)
        let counting = report["allocationCounting"] as? String ?? ""
        if counting.hasPrefix("n/a") {
            throw XCTSkip("pellet-load cannot count allocations in this build: \(counting)")
        }
        let results = try XCTUnwrap(report["results"] as? [[String: Any]])
        XCTAssertEqual(
            Set(results.compactMap { $0["name"] as? String }),
            ["metrics.histogram", "metrics.call", "metrics.complete", "metrics.attempt-failed"])
        for benchmark in results {
            let allocations = try XCTUnwrap(benchmark["allocationsPerOp"] as? Double, "\(benchmark)")
            XCTAssertEqual(allocations, 0, "\(benchmark["name"] ?? "?") allocates: \(benchmark)")
        }
    }
}
