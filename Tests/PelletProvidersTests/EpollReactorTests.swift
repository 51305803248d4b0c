import Foundation
import PelletProviders
import XCTest

/// The provider thread's own epoll driving libcurl (`curl_multi_socket_action`): sockets that
/// come and go, connections the server closes, timeouts with no socket activity, many transfers
/// at once. What could break when libcurl and the epoll disagree about a descriptor shows up
/// here as a hang or a failed transfer.
final class EpollReactorTests: EngineTestCase {
    override class func route(_ request: LoopbackHTTPServer.Request, _ connection: Connection) {
        switch request.path {
        case "/echo":
            connection.respond(body: "echo " + String(decoding: request.body, as: UTF8.self))
        case "/close":
            // One response per connection: libcurl closes its socket, and the next
            // transfer's socket is likely to get the same descriptor number.
            connection.respond(headers: [("Connection", "close")], body: "closed")
            connection.closeNow()
        case "/close-when-idle":
            // Kept alive as far as libcurl knows, then closed by the server while idle.
            connection.respond(body: "soon closed")
            Thread.sleep(forTimeInterval: 0.05)
            connection.closeNow()
        case "/hang":
            _ = connection.waitForClientClose(timeout: .seconds(10))
            connection.closeNow()
        default:
            super.route(request, connection)
        }
    }

    private func get(_ path: String, timeout: Duration = .seconds(10)) -> RecordingHandler {
        start(request(path, timeout: timeout))
    }

    /// A socket libcurl stops watching when its connection goes idle stays in the epoll, so the
    /// next transfer on the same kept-alive connection registers nothing: no epoll_ctl per call.
    func testTransfersOnAKeptAliveConnectionMakeNoEpollRegistrations() throws {
        XCTAssertEqual(get("/echo").waitForResult()?.info?.status, 200)
        let before = engine.reactorStatistics
        for _ in 0..<20 {
            XCTAssertEqual(get("/echo").waitForResult()?.info?.newConnections, 0)
        }
        let after = engine.reactorStatistics
        XCTAssertEqual(after.registrations - before.registrations, 0, "\(before) → \(after)")
        // Each transfer is moved by a ready socket or by the timeout step that started it (which
        // may find the answer already there).
        XCTAssertGreaterThanOrEqual(
            after.socketActions + after.timerActions - before.socketActions - before.timerActions, 20)
        XCTAssertEqual(after.watchedSockets, 0, "no transfer runs, so libcurl watches no socket")
        XCTAssertEqual(server.connectionsAccepted, 1)
    }

    /// Each connection closed after its response: libcurl removes the socket, closes it, and a
    /// new one (often with the same descriptor number) must be registered afresh, not mistaken
    /// for the parked old one.
    func testSocketsClosedAndReopenedUnderTheSameDescriptorAllWork() throws {
        for round in 0..<30 {
            let handler = get(round % 3 == 2 ? "/echo" : "/close")
            let result = try XCTUnwrap(handler.waitForResult(timeout: .seconds(5)), "round \(round)")
            XCTAssertEqual(result.info?.status, 200, "round \(round): \(result)")
        }
        XCTAssertGreaterThanOrEqual(server.connectionsAccepted, 20)
        XCTAssertEqual(engine.reactorStatistics.watchedSockets, 0)
    }

    /// An idle connection the server closes becomes readable while libcurl no longer watches it:
    /// the event takes it out of the epoll (rather than waking the loop forever), and the next
    /// transfer opens a new connection.
    func testAnIdleConnectionClosedByTheServerLeavesTheEpoll() throws {
        XCTAssertEqual(get("/close-when-idle").waitForResult()?.info?.status, 200)
        let deadline = ContinuousClock.now + .seconds(5)
        while engine.reactorStatistics.strayEvents == 0, ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.01)
        }
        XCTAssertEqual(engine.reactorStatistics.strayEvents, 1)
        // Quiet now: the closed socket does not keep waking the provider thread.
        let waits = engine.reactorStatistics.waits
        Thread.sleep(forTimeInterval: 0.2)
        XCTAssertLessThanOrEqual(engine.reactorStatistics.waits - waits, 2)
        let next = try XCTUnwrap(get("/echo").waitForResult()?.info)
        XCTAssertEqual(next.status, 200)
        XCTAssertEqual(next.newConnections, 1)
    }

    /// libcurl's own timeout (`CURLOPT_TIMEOUT_MS`) ends a transfer whose socket stays silent,
    /// through the timer callback alone: the poll interval is far longer than the timeout.
    func testATimeoutFiresWithNoSocketActivity() throws {
        try restartEngine(EngineConfiguration(maximumPollInterval: .seconds(60)))
        let started = ContinuousClock.now
        let result = try XCTUnwrap(get("/hang", timeout: .milliseconds(300)).waitForResult())
        XCTAssertEqual(result.error?.kind, .timedOut, "\(result)")
        let elapsed = milliseconds(ContinuousClock.now - started)
        XCTAssertGreaterThanOrEqual(elapsed, 290)
        XCTAssertLessThan(elapsed, 1500)
        // And the engine carries on.
        XCTAssertEqual(get("/echo").waitForResult()?.info?.status, 200)
    }

    /// The watchdog's first-byte timer also fires with nothing happening on any socket.
    func testTheFirstByteTimerFiresWithNoSocketActivity() throws {
        try restartEngine(EngineConfiguration(maximumPollInterval: .seconds(60)))
        var hanging = request("/hang", timeout: .seconds(30))
        hanging.firstByteTimeout = .milliseconds(200)
        let started = ContinuousClock.now
        let result = try XCTUnwrap(start(hanging).waitForResult())
        XCTAssertEqual(result.error?.kind, .firstByteTimeout, "\(result)")
        XCTAssertLessThan(milliseconds(ContinuousClock.now - started), 1500)
    }

    /// Hundreds of transfers on one epoll, each on a connection of its own, with their sockets
    /// added, ready and removed in every order; every one ends with its own body.
    func testManyConcurrentTransfersOnOneEpoll() throws {
        let count = 300
        let handlers = runAtOnce(
            (0..<count).map { request("/echo", method: .post, body: "n\($0)", timeout: .seconds(30)) })
        for (index, handler) in handlers.enumerated() {
            XCTAssertEqual(handler.result?.info?.status, 200)
            XCTAssertEqual(handler.bodyText, "echo n\(index)")
        }
        XCTAssertEqual(engine.transfersInFlight, 0)
        XCTAssertEqual(engine.reactorStatistics.watchedSockets, 0)
        // The same connections again: parked sockets wake up for their next transfers.
        for handler in runAtOnce((0..<count).map { _ in request("/echo", timeout: .seconds(30)) }) {
            XCTAssertEqual(handler.result?.info?.status, 200)
        }
    }

    /// After shutdown the figures stay readable, as they were when the provider thread stopped.
    func testStatisticsSurviveShutdown() throws {
        XCTAssertEqual(get("/echo").waitForResult()?.info?.status, 200)
        engine.shutdown()
        let stopped = engine.reactorStatistics
        XCTAssertGreaterThan(stopped.waits, 0)
        XCTAssertGreaterThan(stopped.socketActions, 0)
    }
}
