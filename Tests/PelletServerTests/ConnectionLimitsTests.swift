import PelletClient
import PelletServer
import PelletTesting
import PelletWire
import XCTest

/// What a connection may hold over a real socket: the connection count, the time to send a
/// preface or finish a frame, and the time without anything to do.
final class ConnectionLimitsTests: XCTestCase {
    private func goAway(_ connection: RawConnection) throws -> (ErrorPayload, FrameHeader) {
        let frame = try connection.readFrame()
        XCTAssertEqual(frame.header.type, .goAway)
        return (try ErrorPayload(decoding: frame.payload), frame.header)
    }

    private func health(_ connection: RawConnection, stream: UInt32) throws -> HealthResponse {
        try connection.sendRequest(Method.health.rawValue, stream: stream, message: HealthRequest())
        return try HealthResponse(decoding: connection.readFrame().payload)
    }

    func testAConnectionPastTheLimitGetsGoAwayResourceExhausted() async throws {
        let server = try await TestServer.start(configure: { $0.maxConnections = 2 })
        let first = try server.rawConnection()
        let second = try server.rawConnection(server.tcpAddress)
        XCTAssertEqual(try health(first, stream: 1).connections, 2)

        for address in server.addresses {
            // The GOAWAY comes without waiting for the preface.
            let refused = try RawConnection(address)
            let (error, _) = try goAway(refused)
            XCTAssertEqual(error.code, Status.resourceExhausted.rawValue)
            XCTAssertTrue(error.message.contains("limit 2"), error.message)
            XCTAssertTrue(refused.isClosedByServer())
        }
        XCTAssertEqual(try health(second, stream: 1).connections, 2, "refused connections are not counted")

        // A place that frees up is taken again.
        _ = consume first
        let deadline = ContinuousClock.now + .seconds(5)
        var again: RawConnection?
        while again == nil, ContinuousClock.now < deadline {
            let attempt = try RawConnection(server.unixAddress)
            try attempt.sendPreface()
            if (try? attempt.readPreface()) == Preface.bytes { again = attempt }
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTAssertEqual(try health(try XCTUnwrap(again), stream: 1).connections, 2)
        await server.shutdown()
    }

    func testAConnectionWithoutAPrefaceIsClosedAfterTheHandshakeTimeout() async throws {
        let server = try await TestServer.start(configure: { $0.handshakeTimeout = .milliseconds(200) })
        for bytes in [[], Array(Preface.bytes.prefix(3))] {
            let started = ContinuousClock.now
            let connection = try RawConnection(server.tcpAddress)
            try connection.send(bytes)
            let (error, _) = try goAway(connection)
            XCTAssertEqual(error.code, Status.deadlineExceeded.rawValue)
            XCTAssertTrue(connection.isClosedByServer())
            XCTAssertGreaterThanOrEqual(ContinuousClock.now - started, .milliseconds(190))
        }
        await server.shutdown()
    }

    func testAFrameBegunAndNotFinishedIsNotHeldPastTheHandshakeTimeout() async throws {
        let server = try await TestServer.start(configure: { $0.handshakeTimeout = .milliseconds(300) })
        let connection = try server.rawConnection()
        // A 4 MiB frame of which only the header and 64 KiB come, then a trickle that never ends it.
        try connection.sendFrame(FrameHeader(type: .ping, stream: 0), length: 4 << 20)
        try connection.send([UInt8](repeating: 0, count: 64 << 10))
        let started = ContinuousClock.now
        var closed = false
        while ContinuousClock.now - started < .seconds(3) {
            if (try? connection.send([0], stopWhenBlocked: true)) == nil { closed = true; break }
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTAssertTrue(closed || connection.isClosedByServer(), "the partial frame was held for 3 s")
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(2))
        await server.shutdown()
    }

    func testAnIdleConnectionGetsGoAwayAndPingsKeepItOpen() async throws {
        let server = try await TestServer.start(configure: { $0.idleTimeout = .milliseconds(400) })
        let connection = try server.rawConnection()
        XCTAssertEqual(try health(connection, stream: 1).version, HealthService.version)
        // Four idle timeouts' worth of PINGs, one every 100 ms: each counts as activity.
        for _ in 0..<16 {
            try await Task.sleep(for: .milliseconds(100))
            try connection.sendFrame(FrameHeader(type: .ping, stream: 0), payload: [1, 2])
            XCTAssertEqual(try connection.readFrame().header.type, .pong)
        }
        let (error, header) = try goAway(connection)
        XCTAssertEqual(error.code, Status.ok.rawValue)
        XCTAssertEqual(error.message, "idle")
        XCTAssertEqual(header.value, 1, "the last stream accepted")
        XCTAssertTrue(connection.isClosedByServer())
        await server.shutdown()
    }

    func testACallInFlightKeepsAConnectionFromIdling() async throws {
        let held = HeldService()
        let server = try await TestServer.start(
            services: [.route: held], configure: { $0.idleTimeout = .milliseconds(200) })
        let connection = try server.rawConnection()
        try connection.sendRequest(Method.route.rawValue, stream: 5, message: RouteRequest())
        try await Task.sleep(for: .milliseconds(600))
        held.releaseAll(with: RouteResponse())
        let answer = try connection.readFrame()
        XCTAssertEqual(answer.header.stream, 5)
        XCTAssertEqual(answer.header.value, Status.ok.rawValue)
        // Idle from the end of the call: the GOAWAY follows it, not at once.
        let (error, _) = try goAway(connection)
        XCTAssertEqual(error.message, "idle")
        await server.shutdown()
    }
}
