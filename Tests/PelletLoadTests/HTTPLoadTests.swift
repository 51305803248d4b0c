import PelletLoadKit
import PelletMockProvider
import XCTest

/// The http:// baseline straight to an in-process mock provider over HTTP/1.1, with the NIO
/// client (a keep-alive connection per call in flight).
final class HTTPLoadTests: HTTPLoadTestCase {
    func testCompleteOverKeepAliveConnections() async throws {
        try await withMock(latencyMs: 5) { mock in
            let report = try await run("http://127.0.0.1:\(mock.port)", method: "complete")
            XCTAssertGreaterThan(report.completed, 5)
            XCTAssertEqual(report.statuses, ["OK": report.completed])
            XCTAssertEqual(report.errors, 0)
            XCTAssertGreaterThanOrEqual(report.latency.p50, 5_000, "the mock waits 5 ms before answering")
            XCTAssertNil(report.firstChunk)
            let stats = mock.stats.snapshot
            XCTAssertGreaterThanOrEqual(stats.ok, Int(report.completed), "warm-up calls are answered too")
            XCTAssertEqual(stats.streamed, 0)
        }
    }

    func testCompleteStreamReportsTheFirstChunk() async throws {
        try await withMock(ttftMs: 20) { mock in
            // The base URL (ending in /v1) works as well as the bare host and port.
            let report = try await run(mock.baseURL, method: "complete-stream")
            XCTAssertGreaterThan(report.completed, 2)
            XCTAssertEqual(report.statuses, ["OK": report.completed])
            let firstChunk = try XCTUnwrap(report.firstChunk)
            XCTAssertGreaterThanOrEqual(firstChunk.p50, 20_000, "the first content piece comes after the 20 ms TTFT")
            XCTAssertLessThan(firstChunk.p50, 20_000 + 200_000)
            XCTAssertGreaterThanOrEqual(report.latency.p50, firstChunk.p50)
            XCTAssertGreaterThan(mock.stats.snapshot.streamed, 0)
        }
    }

    func testHTTPErrorsAreCountedByCode() async throws {
        try await withMock { mock in
            let report = try await run(
                "http://127.0.0.1:\(mock.port)",
                method: "complete",
                model: "mock-model@mock-behavior=status=503",
                duration: 0.2
            )
            XCTAssertGreaterThan(report.completed, 0)
            XCTAssertEqual(report.errors, report.completed)
            XCTAssertEqual(report.statuses, ["HTTP_503": report.completed])
        }
    }

    func testAClosedPortIsAnError() async throws {
        // Bind and close a mock to get a port nobody listens on.
        let mock = try await MockServer.start(MockConfiguration())
        let port = mock.port
        try await mock.shutdown()
        do {
            _ = try await run("http://127.0.0.1:\(port)", method: "complete", duration: 0.1)
            XCTFail("expected the connection to fail")
        } catch let error as LoadError {
            XCTAssertTrue(error.description.hasPrefix("cannot connect to http://127.0.0.1:\(port)"), error.description)
        }
    }
}
