import NIOCore
import PelletClient
import PelletServer
import PelletTesting
import PelletWire
import XCTest

/// Calls that stay in flight: deadlines, CANCEL, limits, streaming, disconnects and graceful
/// shutdown, with services that the test controls.
final class ServerCallLifecycleTests: XCTestCase {
    private let held = HeldService()

    private func startServer(maxCalls: Int = 1024) async throws -> TestServer {
        try await TestServer.start(
            services: [.route: held, .complete: CountingStreamService(count: 5)],
            configure: { $0.maxCallsInFlightPerConnection = maxCalls }
        )
    }

    func testAnExpiredDeadlineAnswersDeadlineExceededAndCancelsTheWork() async throws {
        let server = try await startServer()
        let connection = try server.rawConnection()
        try connection.sendRequest(Method.route.rawValue, stream: 1, message: RouteRequest(), timeoutMs: 50)
        let frame = try connection.readFrame()
        XCTAssertEqual(frame.header.stream, 1)
        XCTAssertEqual(frame.header.value, Status.deadlineExceeded.rawValue)
        XCTAssertTrue(try ErrorPayload(decoding: frame.payload).message.contains("50 ms"))
        XCTAssertEqual(held.cancellation(of: 1)?.status, .deadlineExceeded)
        // The late answer of the service is dropped, not sent as a second reply.
        held.releaseAll()
        try connection.sendRequest(5, stream: 2, message: HealthRequest())
        XCTAssertEqual(try connection.readFrame().header.stream, 2)
        await server.shutdown()
    }

    func testTheDefaultDeadlineAppliesWhenTheRequestSetsNone() async throws {
        let server = try await TestServer.start(services: [.route: held], configure: { $0.defaultTimeout = .milliseconds(40) })
        let client = try await server.client()
        do {
            _ = try await client.call(.route, RouteRequest(), as: RouteResponse.self)
            XCTFail("expected DEADLINE_EXCEEDED")
        } catch {
            XCTAssertEqual(error.status, .deadlineExceeded)
        }
        await client.close()
        await server.shutdown()
    }

    func testCancelAnswersCancelledAndStopsTheWork() async throws {
        let server = try await startServer()
        let connection = try server.rawConnection(server.tcpAddress)
        try connection.sendRequest(Method.route.rawValue, stream: 11, message: RouteRequest())
        try await waitUntil(held.startedCount == 1)
        try connection.sendFrame(FrameHeader(type: .cancel, stream: 11))
        let frame = try connection.readFrame()
        XCTAssertEqual(frame.header.type, .response)
        XCTAssertEqual(frame.header.stream, 11)
        XCTAssertEqual(frame.header.value, Status.cancelled.rawValue)
        XCTAssertEqual(held.cancellation(of: 11)?.status, .cancelled)
        await server.shutdown()
    }

    func testClientTaskCancellationSendsCancel() async throws {
        let server = try await startServer()
        let client = try await server.client()
        let call = Task { try await client.call(.route, RouteRequest(), as: RouteResponse.self) }
        try await waitUntil(held.startedCount == 1)
        call.cancel()
        let result = await call.result
        XCTAssertEqual((result.failure as? RPCError)?.status, .cancelled)
        try await waitUntil(held.cancellation(of: 1) != nil)
        XCTAssertEqual(held.cancellation(of: 1)?.status, .cancelled)
        await client.close()
        await server.shutdown()
    }

    func testDuplicateStreamInFlightIsAConnectionError() async throws {
        let server = try await startServer()
        let connection = try server.rawConnection()
        try connection.sendRequest(Method.route.rawValue, stream: 4, message: RouteRequest())
        try connection.sendRequest(Method.route.rawValue, stream: 4, message: RouteRequest())
        let frame = try connection.readFrame()
        XCTAssertEqual(frame.header.type, .goAway)
        XCTAssertEqual(frame.header.value, 4, "GOAWAY names the last stream accepted")
        XCTAssertEqual(try ErrorPayload(decoding: frame.payload).code, Status.invalidArgument.rawValue)
        XCTAssertTrue(connection.isClosedByServer())
        // The call that was in flight is cancelled with the connection.
        try await waitUntil(held.cancellation(of: 4) != nil)
        await server.shutdown()
    }

    func testTooManyCallsInFlightAnswersResourceExhaustedWithRetryAfter() async throws {
        let server = try await startServer(maxCalls: 3)
        let connection = try server.rawConnection()
        for stream in 1...4 as ClosedRange<UInt32> {
            try connection.sendRequest(Method.route.rawValue, stream: stream, message: RouteRequest())
        }
        let frame = try connection.readFrame()
        XCTAssertEqual(frame.header.stream, 4)
        XCTAssertEqual(frame.header.value, Status.resourceExhausted.rawValue)
        let error = try ErrorPayload(decoding: frame.payload)
        XCTAssertGreaterThan(error.retryAfterMs, 0)
        XCTAssertTrue(error.message.contains("limit 3"), error.message)
        // Health still gets through once a slot is free.
        held.releaseAll(with: RouteResponse())
        for _ in 1...3 { XCTAssertEqual(try connection.readFrame().header.value, Status.ok.rawValue) }
        try connection.sendRequest(5, stream: 5, message: HealthRequest())
        XCTAssertEqual(try connection.readFrame().header.value, Status.ok.rawValue)
        await server.shutdown()
    }

    func testStreamedReplyArrivesAsMessagesThenEnd() async throws {
        let server = try await startServer()
        let client = try await server.client(server.tcpAddress)
        var deltas: [String] = []
        var final: CompleteResponse?
        for try await event in client.completeStream(CompleteRequest()) {
            switch event {
            case .delta(let text): deltas.append(text)
            case .done(let response): final = response
            }
        }
        XCTAssertEqual(deltas, ["0", "1", "2", "3", "4"])
        XCTAssertEqual(final?.attempts, 5)
        // Without the STREAM flag the same method answers with one RESPONSE.
        let unary = try await client.complete(CompleteRequest())
        XCTAssertEqual(unary.content, "5 chunks")
        await client.close()
        await server.shutdown()
    }

    func testAClientDisconnectCancelsItsCalls() async throws {
        let server = try await startServer()
        var connection: RawConnection? = try server.rawConnection()
        try connection?.sendRequest(Method.route.rawValue, stream: 21, message: RouteRequest())
        try await waitUntil(held.startedCount == 1)
        connection = nil
        try await waitUntil(held.cancellation(of: 21) != nil)
        XCTAssertEqual(held.cancellation(of: 21)?.status, .cancelled)
        try await waitUntil(server.server.metrics.callsInFlight == 0)
        await server.shutdown()
    }

    func testGracefulShutdownLetsCallsInFlightFinishAndRefusesNewOnes() async throws {
        let server = try await startServer()
        let connection = try server.rawConnection()
        try connection.sendRequest(Method.route.rawValue, stream: 1, message: RouteRequest())
        try connection.sendRequest(Method.route.rawValue, stream: 3, message: RouteRequest())
        try await waitUntil(held.startedCount == 2)

        let shutdown = Task { await server.shutdown(gracePeriod: .seconds(5)) }
        let goAway = try connection.readFrame()
        XCTAssertEqual(goAway.header.type, .goAway)
        XCTAssertEqual(goAway.header.value, 3)
        XCTAssertEqual(try ErrorPayload(decoding: goAway.payload).code, Status.unavailable.rawValue)

        // A new call on the draining connection is refused; no new connections are accepted.
        try connection.sendRequest(5, stream: 5, message: HealthRequest())
        let refused = try connection.readFrame()
        XCTAssertEqual(refused.header.stream, 5)
        XCTAssertEqual(refused.header.value, Status.unavailable.rawValue)
        XCTAssertThrowsError(try server.rawConnection())

        // The calls in flight finish normally, then the connection closes.
        held.releaseAll(with: RouteResponse(decision: RouteDecision(model: "m")))
        let replies = try [connection.readFrame(), connection.readFrame()]
        XCTAssertEqual(Set(replies.map(\.header.stream)), [1, 3])
        XCTAssertEqual(Set(replies.map(\.header.value)), [Status.ok.rawValue])
        XCTAssertEqual(try RouteResponse(decoding: replies[0].payload).decision?.model, "m")
        XCTAssertTrue(connection.isClosedByServer())
        await shutdown.value
        XCTAssertFalse(FileManager.default.fileExists(atPath: server.socketPath), "the socket file is removed")
    }

    func testGracePeriodClosesCallsThatNeverFinish() async throws {
        let server = try await startServer()
        let client = try await server.client()
        let call = Task { try await client.call(.route, RouteRequest(), as: RouteResponse.self) }
        try await waitUntil(held.startedCount == 1)
        let started = ContinuousClock.now
        await server.shutdown(gracePeriod: .milliseconds(200))
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(3))
        let result = await call.result
        XCTAssertEqual((result.failure as? RPCError)?.status, .unavailable)
        XCTAssertEqual(held.cancellation(of: 1)?.status, .cancelled)
        await client.close()
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
