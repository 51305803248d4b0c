import Foundation
import XCTest

/// `pelletctl ping` against a real pelletd.
final class PingCommandTests: XCTestCase {
    private static let time = #"([0-9]+\.[0-9]) µs"#

    func testThreePingsPrintThreePongsAndASummary() throws {
        let pelletd = try PelletdProcess.start()
        let result = try pelletctl("ping", "--count", "3", "--data-dir", pelletd.dataDirectory)
        result.assertSucceeded()
        let from = literal("PONG from unix:\(pelletd.dataDirectory)/pellet.sock: seq=")
        let figure = "([0-9]+\\.[0-9])"
        assertLines(
            result.stdout,
            match: [
                from + "1 time=" + Self.time,
                from + "2 time=" + Self.time,
                from + "3 time=" + Self.time,
                "3 pings: min/avg/p50/max = \(figure)/\(figure)/\(figure)/\(figure) µs",
            ]
        )

        // The summary agrees with the lines it summarises.
        let lines = result.stdoutLines
        guard lines.count == 4 else { return }
        let times = lines.prefix(3).compactMap { line in
            line.firstMatch(of: #/time=([0-9]+\.[0-9]) µs$/#).flatMap { Double($0.1) }
        }
        let summary = try XCTUnwrap(lines[3].firstMatch(of: #/= ([0-9.]+)/([0-9.]+)/([0-9.]+)/([0-9.]+) µs$/#))
        let figures = [summary.1, summary.2, summary.3, summary.4].compactMap { Double($0) }
        guard figures.count == 4 else { return XCTFail("bad figures in \(lines[3])") }
        let (minimum, average, median, maximum) = (figures[0], figures[1], figures[2], figures[3])
        XCTAssertEqual(times.count, 3)
        XCTAssertEqual(minimum, times.min())
        XCTAssertEqual(maximum, times.max())
        XCTAssertEqual(median, times.sorted()[1])
        XCTAssertEqual(average, times.reduce(0, +) / 3, accuracy: 0.11)
        XCTAssertGreaterThan(minimum, 0)
        try pelletd.stop()
    }

    func testOnePingOverTCPIsSingular() throws {
        let pelletd = try PelletdProcess.start()
        let result = try pelletctl("ping", "-c", "1", "--server", pelletd.tcpAddress)
        result.assertSucceeded()
        assertLines(
            result.stdout,
            match: [
                literal("PONG from \(pelletd.tcpAddress): seq=1 time=") + Self.time,
                #"1 ping: min/avg/p50/max = ([0-9.]+)/\1/\1/\1 µs"#,
            ]
        )
        try pelletd.stop()
    }

    func testJSONHasExactlyTheDocumentedKeys() throws {
        let pelletd = try PelletdProcess.start()
        let result = try pelletctl("ping", "--count", "3", "--json", "--server", pelletd.unixAddress)
        result.assertSucceeded()
        XCTAssertEqual(result.stdoutLines.count, 1, "only the summary, no PONG lines: \(result.stdout)")
        let object = try jsonObject(result.stdout)
        XCTAssertEqual(Set(object.keys), ["count", "min_us", "avg_us", "p50_us", "max_us"])
        XCTAssertEqual(object["count"] as? Int, 3)
        let minimum = try XCTUnwrap(object["min_us"] as? Double)
        let average = try XCTUnwrap(object["avg_us"] as? Double)
        let median = try XCTUnwrap(object["p50_us"] as? Double)
        let maximum = try XCTUnwrap(object["max_us"] as? Double)
        XCTAssertGreaterThan(minimum, 0)
        XCTAssertLessThanOrEqual(minimum, median)
        XCTAssertLessThanOrEqual(median, maximum)
        XCTAssertLessThanOrEqual(minimum, average)
        XCTAssertLessThanOrEqual(average, maximum)
        try pelletd.stop()
    }

    func testTheLargestAndSmallestPayloadsAreAccepted() throws {
        let pelletd = try PelletdProcess.start()
        for bytes in ["0", "64"] {
            let result = try pelletctl("ping", "-c", "2", "--payload-bytes", bytes, "--server", pelletd.unixAddress)
            result.assertSucceeded()
            XCTAssertEqual(result.stdoutLines.count, 3, result.stdout)
        }
        try pelletd.stop()
    }
}
