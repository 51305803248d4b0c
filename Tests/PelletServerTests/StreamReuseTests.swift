import PelletClient
import PelletMockProvider
import PelletServer
import PelletStore
import PelletTesting
import PelletWire
import XCTest

/// A stream id is free again once its call was answered, also when the call was answered early
/// (CANCEL, deadline) and its work is still running: the old call's late result must neither
/// answer nor end the new call on the same id.
final class StreamReuseTests: XCTestCase {
    private var server: ProviderTestServer!
    private var apiKey = ""
    private var accountID = ""

    override func setUp() async throws {
        var behavior = MockBehavior()
        behavior.completionTokens = 8
        // Slow enough that a CANCEL lands while the provider is still working.
        behavior.latencyMs = 300
        server = try await ProviderTestServer.start(behavior: behavior)
        let account = try await server.store.createAccount(Account(name: "Reuse", email: "reuse@example.com"))
        accountID = account.id
        apiKey = try await server.store.createKey(accountID: account.id, name: "reuse").plaintext
    }

    override func tearDown() async throws {
        await server?.shutdown()
        server = nil
    }

    private var complete: CompleteRequest {
        CompleteRequest(
            credentials: Credentials(apiKey: apiKey),
            messages: [ChatMessage(role: "user", content: "Say hello to the gateway.")],
            model: "gpt-oss-120b",
            maxTokens: 64
        )
    }

    /// Reads frames until the final frame (RESPONSE or END) of `stream`; fails on any frame of
    /// another stream.
    private func readCall(_ connection: RawConnection, stream: UInt32) throws -> (messages: [String], final: Frame) {
        var messages: [String] = []
        while true {
            let frame = try connection.readFrame()
            XCTAssertEqual(frame.header.stream, stream, "a frame of stream \(frame.header.stream) (\(frame.header.type))")
            switch frame.header.type {
            case .message: messages.append(try CompleteChunk(decoding: frame.payload).delta)
            case .response, .end: return (messages, frame)
            default: XCTFail("unexpected \(frame.header.type)")
            }
        }
    }

    /// The cancelled call has settled (its request record is written) and nothing more came for
    /// its stream: the next frame on the connection is the answer to a Health on stream 99.
    private func assertNothingMoreArrives(on connection: RawConnection, records expected: Int) async throws {
        let client = try await server.client()
        let deadline = ContinuousClock.now + .seconds(5)
        var records: [RequestRecord] = []
        while ContinuousClock.now < deadline {
            records = try await client.allRequestRecords(accountID: accountID, adminToken: TestServer.adminToken).records
            if records.count >= expected { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        await client.close()
        XCTAssertEqual(records.count, expected)
        XCTAssertEqual(records.filter { $0.status == Status.cancelled.rawValue }.count, 1, "the cancelled call is metered as cancelled")
        // The settled call's answer would have been sent by now; give its hop a moment.
        try await Task.sleep(for: .milliseconds(100))
        try connection.sendRequest(Method.health.rawValue, stream: 99, message: HealthRequest())
        let next = try connection.readFrame()
        XCTAssertEqual(next.header.stream, 99, "a stray \(next.header.type) for stream \(next.header.stream)")
    }

    /// A connection whose Complete on stream 1 was cancelled while the provider works on it.
    private func cancelledCall(flags: UInt8) async throws -> RawConnection {
        let connection = try server.server.rawConnection()
        try connection.sendRequest(Method.complete.rawValue, stream: 1, message: complete, flags: flags)
        try await Task.sleep(for: .milliseconds(50))
        try connection.sendFrame(FrameHeader(type: .cancel, stream: 1))
        let cancelled = try readCall(connection, stream: 1).final
        XCTAssertEqual(cancelled.header.type, flags == 0 ? .response : .end)
        XCTAssertEqual(cancelled.header.value, Status.cancelled.rawValue)
        return connection
    }

    func testACancelledCallDoesNotAnswerARouteThatReusedItsStream() async throws {
        let connection = try await cancelledCall(flags: 0)

        let route = RouteRequest(credentials: Credentials(apiKey: apiKey), messages: complete.messages)
        try connection.sendRequest(Method.route.rawValue, stream: 1, message: route)
        let answer = try readCall(connection, stream: 1).final
        XCTAssertEqual(answer.header.type, .response)
        XCTAssertEqual(answer.header.value, Status.ok.rawValue)
        XCTAssertNotNil(try RouteResponse(decoding: answer.payload).decision)
        try await assertNothingMoreArrives(on: connection, records: 1)
    }

    func testACancelledCallDoesNotAnswerACompleteThatReusedItsStream() async throws {
        let connection = try await cancelledCall(flags: 0)

        try connection.sendRequest(Method.complete.rawValue, stream: 1, message: complete)
        let answer = try readCall(connection, stream: 1).final
        XCTAssertEqual(answer.header.value, Status.ok.rawValue, (try? ErrorPayload(decoding: answer.payload).message) ?? "")
        XCTAssertFalse(try CompleteResponse(decoding: answer.payload).content.isEmpty)
        try await assertNothingMoreArrives(on: connection, records: 2)
    }

    func testACancelledStreamSendsNothingToAStreamThatReusedItsId() async throws {
        let streaming = FrameHeader.streamFlag
        let connection = try await cancelledCall(flags: streaming)

        try connection.sendRequest(Method.complete.rawValue, stream: 1, message: complete, flags: streaming)
        let (messages, end) = try readCall(connection, stream: 1)
        XCTAssertEqual(end.header.type, .end)
        XCTAssertEqual(end.header.value, Status.ok.rawValue, (try? ErrorPayload(decoding: end.payload).message) ?? "")
        // The mock answers the same request with the same pieces: the whole answer, once.
        let client = try await server.client()
        let unary = try await client.complete(complete)
        await client.close()
        XCTAssertEqual(messages.joined(), unary.content)
        try await assertNothingMoreArrives(on: connection, records: 3)
    }
}
