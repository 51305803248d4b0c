import PelletLoadKit
import PelletMockProvider
import XCTest

/// `pellet-load rpc --client lean` straight to an in-process mock provider over HTTP/1.1: each
/// connection's calls in flight pipelined on it, the same closed and open loops and report as
/// the NIO client's (`HTTPLoadTests`). The mock answers a connection's pipelined requests one at
/// a time, in order.
final class LeanHTTPLoadTests: HTTPLoadTestCase {
    override var client: String { "lean" }

    func testClosedLoopPipelinesTheCallsOfEachConnection() async throws {
        try await withMock(latencyMs: 5) { mock in
            let report = try await run("http://127.0.0.1:\(mock.port)", connections: 2, inFlight: 3)
            XCTAssertEqual(report.mode, "closed")
            XCTAssertGreaterThan(report.completed, 5)
            XCTAssertEqual(report.statuses, ["OK": report.completed])
            XCTAssertEqual(report.errors, 0)
            XCTAssertGreaterThanOrEqual(report.sent, report.completed)
            XCTAssertGreaterThanOrEqual(report.latency.p50, 5_000, "the mock waits 5 ms before answering")
            XCTAssertNil(report.firstChunk)
            let stats = mock.stats.snapshot
            XCTAssertGreaterThanOrEqual(stats.ok, Int(report.completed), "warm-up calls are answered too")
            XCTAssertEqual(stats.streamed, 0)
            // Two connections: their six calls in flight reach the mock at most two at a time,
            // pipelined (the NIO client would open six connections).
            XCTAssertLessThanOrEqual(stats.mostInFlight, 2)
            // The body is the one the NIO client sends: the mock read its max_tokens.
            XCTAssertEqual(stats.largestMaxTokens, 8)
            XCTAssertEqual(stats.withoutMaxTokens, 0)
        }
    }

    func testOpenLoopSendsEveryScheduledRequest() async throws {
        try await withMock { mock in
            // The base URL (ending in /v1) works as well as the bare host and port.
            let report = try await run(mock.baseURL, connections: 2, inFlight: 4, rate: 200, duration: 0.5, warmup: 0)
            XCTAssertEqual(report.mode, "open")
            XCTAssertEqual(report.sent, 100)
            XCTAssertEqual(report.completed, 100)
            XCTAssertEqual(report.statuses, ["OK": 100])
            XCTAssertNotNil(report.sendDelay)
            XCTAssertEqual(mock.stats.snapshot.ok, 100)
        }
    }

    func testHTTPErrorsAreCountedByStatusAndTheConnectionLivesOn() async throws {
        try await withMock { mock in
            let report = try await run(
                "http://127.0.0.1:\(mock.port)",
                model: "mock-model@mock-behavior=status=503",
                inFlight: 2,
                duration: 0.2
            )
            XCTAssertEqual(report.errors, report.completed)
            XCTAssertEqual(report.statuses, ["HTTP_503": report.completed])
            XCTAssertGreaterThan(report.completed, 2, "more calls after the first errors, on the same connection")
            XCTAssertEqual(mock.stats.snapshot.errors5xx, mock.stats.snapshot.requests)
        }
    }

    func testAServerThatClosesTheConnectionEndsTheRunWithTransportErrors() async throws {
        try await withMock { mock in
            // The mock sends half the body its Content-Length promises, then closes: the call
            // answering and the one pipelined behind it both end as transport errors, and the
            // connection's share of the run ends (nothing more is sent).
            let report = try await run(
                "http://127.0.0.1:\(mock.port)",
                model: "mock-model@mock-behavior=disconnect-midstream",
                inFlight: 2,
                duration: 2,
                warmup: 0
            )
            XCTAssertEqual(report.sent, 2)
            XCTAssertEqual(report.completed, 2)
            XCTAssertEqual(report.statuses, ["TRANSPORT_ERROR": 2])
            XCTAssertEqual(mock.stats.snapshot.disconnected, 1)
        }
    }

    func testCompleteStreamIsLeftToTheNIOClient() throws {
        XCTAssertThrowsError(
            try LoadConfiguration(options: options("http://127.0.0.1:8000", method: "complete-stream"))
        ) { error in
            let description = (error as? LoadError)?.description ?? "\(error)"
            XCTAssertTrue(description.contains("--client lean sends unary complete calls over http://"), description)
            XCTAssertTrue(description.contains("use the nio client for complete-stream"), description)
        }
    }

    func testAClosedPortIsAnError() async throws {
        let mock = try await MockServer.start(MockConfiguration())
        let port = mock.port
        try await mock.shutdown()
        do {
            _ = try await run("http://127.0.0.1:\(port)", connections: 2, duration: 0.1)
            XCTFail("expected the connection to fail")
        } catch let error as LoadError {
            XCTAssertEqual(
                error.description,
                "could not connect to http://127.0.0.1:\(port)/v1/chat/completions: Connection refused "
                    + "(connection 1 of 2)"
            )
        }
    }
}
