import Foundation
import PelletTesting
import PelletWire
import XCTest

/// A message whose text holds a NUL byte, sent as raw frames (the Swift encoder could not send
/// it whole): refused with INVALID_ARGUMENT naming the field, never passed on cut short.
final class NulByteCallTests: XCTestCase {
    private var server: ProviderTestServer!

    override func setUp() async throws {
        server = try await ProviderTestServer.start()
    }

    override func tearDown() async throws {
        await server?.shutdown()
        server = nil
    }

    /// Route or Complete with one user message holding `content`.
    private func request(content: [UInt8]) -> [UInt8] {
        let credentials = ProtobufBytes.field(1, ProtobufBytes.field(1, "plt_unknown_key"))
        let message = ProtobufBytes.field(1, "user") + ProtobufBytes.field(2, content)
        return credentials + ProtobufBytes.field(2, message)
    }

    private func call(
        _ connection: RawConnection,
        _ method: PelletWire.Method,
        stream: UInt32,
        payload: [UInt8],
        flags: UInt8 = 0
    ) throws -> (status: UInt32, message: String) {
        try connection.sendFrame(
            FrameHeader(type: .request, flags: flags, method: method.rawValue, stream: stream),
            payload: payload
        )
        let reply = try connection.readFrame()
        XCTAssertEqual(reply.header.stream, stream)
        XCTAssertNotEqual(reply.header.type, .goAway)
        return (reply.header.value, reply.header.value == 0 ? "" : try ErrorPayload(decoding: reply.payload).message)
    }

    func testAMessageWithANulByteIsRefusedNamingTheFieldAndTheConnectionLivesOn() throws {
        let connection = try server.server.rawConnection()
        let nul = request(content: Array("ab\0cd".utf8))
        let calls: [(PelletWire.Method, UInt8, String)] = [
            (.route, 0, "Route request: the payload is not a valid pellet.v1.RouteRequest"),
            (.complete, 0, "Complete request: the payload is not a valid pellet.v1.CompleteRequest"),
            (.complete, FrameHeader.streamFlag, "Complete request: the payload is not a valid pellet.v1.CompleteRequest"),
        ]
        for (index, (method, flags, prefix)) in calls.enumerated() {
            let reply = try call(connection, method, stream: UInt32(1 + index), payload: nul, flags: flags)
            XCTAssertEqual(reply.status, Status.invalidArgument.rawValue, "\(method): \(reply.message)")
            XCTAssertEqual(reply.message, prefix + ": messages.content contains a NUL byte")
        }

        // The same connection goes on: the same call without the NUL gets past decoding (to the
        // key check), and Health answers.
        let clean = try call(connection, .route, stream: 10, payload: request(content: Array("abcd".utf8)))
        XCTAssertEqual(clean.status, Status.unauthenticated.rawValue, clean.message)
        XCTAssertEqual(try call(connection, .health, stream: 11, payload: []).status, Status.ok.rawValue)
    }
}
