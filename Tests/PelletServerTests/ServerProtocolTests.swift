import NIOCore
import PelletClient
import PelletTesting
import PelletWire
import XCTest

/// The wire contract over real sockets: every connection error and call error of DESIGN.md
/// section 2, on both the Unix socket and TCP.
final class ServerProtocolTests: XCTestCase {
    private var server: TestServer!

    override func setUp() async throws {
        server = try await TestServer.start()
    }

    override func tearDown() async throws {
        // After every test the server must still answer, on a fresh connection.
        let client = try await server.client()
        let health = try await client.health()
        XCTAssertEqual(health.version, "0.1.0")
        await client.close()
        await server.shutdown()
        server = nil
    }

    private func expectGoAway(_ connection: RawConnection, status: Status, mentioning text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let frame = try connection.readFrame()
        XCTAssertEqual(frame.header.type, .goAway, file: file, line: line)
        let error = try ErrorPayload(decoding: frame.payload)
        XCTAssertEqual(error.code, status.rawValue, "\(error.message)", file: file, line: line)
        XCTAssertTrue(error.message.contains(text), "message was: \(error.message)", file: file, line: line)
        XCTAssertTrue(connection.isClosedByServer(), "the server must close after GOAWAY", file: file, line: line)
    }

    private func expectReply(_ connection: RawConnection, stream: UInt32, status: Status, file: StaticString = #filePath, line: UInt = #line) throws -> ErrorPayload {
        let frame = try connection.readFrame()
        XCTAssertEqual(frame.header.type, .response, file: file, line: line)
        XCTAssertEqual(frame.header.stream, stream, file: file, line: line)
        XCTAssertEqual(frame.header.value, status.rawValue, file: file, line: line)
        return status == .ok ? ErrorPayload() : try ErrorPayload(decoding: frame.payload)
    }

    func testHealthOverBothTransports() async throws {
        for address in server.addresses {
            let client = try await PelletClient.connect(to: address)
            let health = try await client.health()
            XCTAssertEqual(health.version, "0.1.0")
            XCTAssertEqual(health.inFlight, 1, "the Health call itself is in flight")
            await client.close()
        }
    }

    func testBadPrefaceGetsGoAwayInvalidArgument() throws {
        for address in server.addresses {
            let connection = try RawConnection(address)
            try connection.send(Array("GET / HTTP/1.1\r\n".utf8))
            try expectGoAway(connection, status: .invalidArgument, mentioning: "preface")
        }
    }

    func testAnotherProtocolVersionGetsGoAwayUnimplemented() throws {
        let connection = try RawConnection(server.unixAddress)
        try connection.send([0x50, 0x4C, 0x54, 0x02])
        try expectGoAway(connection, status: .unimplemented, mentioning: "version 2")
    }

    func testGarbageAfterThePrefaceGetsGoAway() throws {
        for address in server.addresses {
            let connection = try server.rawConnection(address)
            try connection.send(Array(repeating: 0xAB, count: 40))
            try expectGoAway(connection, status: .invalidArgument, mentioning: "unknown frame type")
        }
    }

    func testOversizeFrameIsRejectedBeforeItsPayloadArrives() throws {
        for address in server.addresses {
            let connection = try server.rawConnection(address)
            // Only the header is sent: the server must answer without waiting for 4 GiB.
            try connection.sendFrame(FrameHeader(type: .request, method: 5, stream: 1), length: 0xFFFF_FFFF)
            try expectGoAway(connection, status: .resourceExhausted, mentioning: "over the limit")
        }
    }

    func testUndecodablePayloadIsACallErrorAndTheConnectionLivesOn() throws {
        for address in server.addresses {
            let connection = try server.rawConnection(address)
            try connection.sendFrame(FrameHeader(type: .request, method: 5, stream: 1), payload: [0x0A, 0xFF, 0x01])
            let error = try expectReply(connection, stream: 1, status: .invalidArgument)
            XCTAssertTrue(error.message.contains("HealthRequest"), error.message)
            try connection.sendRequest(5, stream: 2, message: HealthRequest())
            _ = try expectReply(connection, stream: 2, status: .ok)
        }
    }

    func testUnknownMethodAndUnbuiltMethodsAnswerUnimplemented() async throws {
        let connection = try server.rawConnection()
        try connection.sendRequest(99, stream: 1, message: HealthRequest())
        let unknown = try expectReply(connection, stream: 1, status: .unimplemented)
        XCTAssertTrue(unknown.message.contains("unknown method 99"), unknown.message)

        let client = try await server.client(server.tcpAddress)
        for method in [Method.complete] {
            do {
                _ = try await client.callRaw(method: method.rawValue, payload: ByteBuffer())
                XCTFail("\(method) must not answer OK yet")
            } catch {
                XCTAssertEqual(error.status, .unimplemented)
                XCTAssertTrue(error.message.contains("\(method)"), error.message)
            }
        }
        await client.close()
    }

    func testRequestOnStreamZeroIsAConnectionError() throws {
        let connection = try server.rawConnection()
        try connection.sendRequest(5, stream: 0, message: HealthRequest())
        try expectGoAway(connection, status: .invalidArgument, mentioning: "stream 0")
    }

    func testServerOnlyFrameFromClientIsAConnectionError() throws {
        let connection = try server.rawConnection()
        try connection.sendFrame(FrameHeader(type: .response, stream: 1))
        try expectGoAway(connection, status: .invalidArgument, mentioning: "RESPONSE")
    }

    func testPingIsEchoedAndAnOversizePingIsRefused() throws {
        let connection = try server.rawConnection(server.tcpAddress)
        let payload = Array("0123456789abcdef".utf8)
        try connection.sendFrame(FrameHeader(type: .ping, stream: 0), payload: payload)
        let pong = try connection.readFrame()
        XCTAssertEqual(pong.header.type, .pong)
        XCTAssertEqual(pong.header.stream, 0)
        XCTAssertEqual(Array(pong.payload.readableBytesView), payload)

        try connection.sendFrame(FrameHeader(type: .ping, stream: 0), payload: Array(repeating: 1, count: 65))
        try expectGoAway(connection, status: .invalidArgument, mentioning: "PING payload")
    }

    func testClientPingMeasuresARoundTrip() async throws {
        let client = try await server.client()
        let rtt = try await client.ping()
        XCTAssertGreaterThan(rtt, .zero)
        await client.close()
    }

    func testAThousandCallsInFlightOnOneConnectionAreAllAnswered() async throws {
        for address in server.addresses {
            let client = try await PelletClient.connect(to: address)
            let versions = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<1000 {
                    group.addTask { try await client.health().version }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            XCTAssertEqual(versions.count, 1000)
            XCTAssertEqual(Set(versions), ["0.1.0"])
            await client.close()
        }
    }

    func testPipelinedRequestsInOneWriteAreAllAnswered() throws {
        let connection = try server.rawConnection()
        var bytes: [UInt8] = []
        for stream in 1...200 as ClosedRange<UInt32> {
            var buffer = ByteBuffer()
            buffer.writeFrame(FrameHeader(type: .request, method: 5, stream: stream), message: HealthRequest())
            bytes += buffer.readableBytesView
        }
        try connection.send(bytes)
        var answered = Set<UInt32>()
        for _ in 1...200 {
            let frame = try connection.readFrame()
            XCTAssertEqual(frame.header.value, Status.ok.rawValue)
            answered.insert(frame.header.stream)
        }
        XCTAssertEqual(answered, Set(1...200))
    }

    func testAClientThatDoesNotReadIsNotReadFromAndLosesNothing() throws {
        // A generous wait per read: the property is that nothing is lost, and under
        // ThreadSanitizer on two busy cores tens of thousands of replies take seconds to drain.
        let connection = try RawConnection(server.unixAddress, receiveTimeout: .seconds(15))
        try connection.sendPreface()
        _ = try connection.readPreface()
        // Health requests are 16 bytes each; keep sending without reading any reply until the
        // server stops reading (the send blocks), or give up after 64 MiB.
        var frames: [UInt8] = []
        var header = ByteBuffer()
        for stream in 1...4096 as ClosedRange<UInt32> {
            header.clear()
            header.writeFrameHeader(FrameHeader(type: .request, method: 5, stream: stream))
            frames += header.readableBytesView
        }
        var sentBytes = 0
        var nextStream: UInt32 = 1
        var blocked = false
        while !blocked, sentBytes < 64 << 20 {
            // Renumber the batch so every stream id stays unique.
            var batch = frames
            for index in 0..<4096 {
                let stream = nextStream + UInt32(index)
                withUnsafeBytes(of: stream.bigEndian) { batch.replaceSubrange(index * 16 + 8..<index * 16 + 12, with: $0) }
            }
            let sent = try connection.send(batch, stopWhenBlocked: true)
            sentBytes += sent
            nextStream += 4096
            blocked = sent < batch.count
        }
        XCTAssertTrue(blocked, "the server kept reading from a client that reads nothing")
        // Every complete request sent is answered, once the client reads again.
        let complete = sentBytes / 16
        var answered = 0
        while answered < complete {
            let frame: Frame
            do { frame = try connection.readFrame() } catch {
                XCTFail("after \(answered) of \(complete) replies (\(sentBytes) bytes sent): \(error)")
                return
            }
            XCTAssertEqual(frame.header.value, Status.ok.rawValue)
            answered += 1
        }
        XCTAssertEqual(answered, complete)
    }
}
