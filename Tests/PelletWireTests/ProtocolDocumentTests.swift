import Foundation
import NIOCore
import PelletWire
import XCTest

/// The annotated hex dumps of Protos/PROTOCOL.md are what PelletWire puts on the wire.
///
/// Each dump is kept here as a literal array, compared both with the bytes PelletWire writes
/// and with the dump in the document (the block after `<!-- hexdump: NAME -->`; `#` starts a
/// comment).
final class ProtocolDocumentTests: XCTestCase {
    private let healthClient: [UInt8] = [
        0x50, 0x4C, 0x54, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x13, 0x88,
    ]
    private let healthServer: [UInt8] = [
        0x50, 0x4C, 0x54, 0x01,
        0x00, 0x00, 0x00, 0x0C, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x0A, 0x05, 0x30, 0x2E, 0x31, 0x2E, 0x30,
        0x10, 0xD2, 0x09,
        0x18, 0x01,
    ]
    private let routeClient: [UInt8] = [
        0x00, 0x00, 0x00, 0x18, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00,
        0x0A, 0x0A, 0x0A, 0x08, 0x70, 0x6C, 0x74, 0x5F, 0x64, 0x65, 0x6D, 0x6F,
        0x12, 0x0A, 0x0A, 0x04, 0x75, 0x73, 0x65, 0x72, 0x12, 0x02, 0x68, 0x69,
    ]
    private let routeServer: [UInt8] = [
        0x00, 0x00, 0x00, 0x1E, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x0C,
        0x08, 0x0C,
        0x12, 0x1A,
        0x52, 0x6F, 0x75, 0x74, 0x65, 0x20, 0x69, 0x73, 0x20, 0x6E,
        0x6F, 0x74, 0x20, 0x61, 0x76, 0x61, 0x69, 0x6C, 0x61, 0x62,
        0x6C, 0x65, 0x20, 0x79, 0x65, 0x74,
    ]

    func testHealthCallBytes() throws {
        var client = ByteBufferAllocator().buffer(capacity: 32)
        client.writeBytes(Preface.bytes)
        client.writeFrame(
            FrameHeader(type: .request, method: Method.health.rawValue, stream: 1, value: 5_000),
            message: HealthRequest()
        )
        XCTAssertEqual(hex(client.readableByteArray), hex(healthClient))

        var server = ByteBufferAllocator().buffer(capacity: 32)
        server.writeBytes(Preface.bytes)
        server.writeFrame(
            FrameHeader(type: .response, stream: 1, value: Status.ok.rawValue),
            message: HealthResponse(version: "0.1.0", uptimeMs: 1_234, inFlight: 1)
        )
        XCTAssertEqual(hex(server.readableByteArray), hex(healthServer))
    }

    func testRouteErrorBytes() throws {
        var client = ByteBufferAllocator().buffer(capacity: 64)
        client.writeFrame(
            FrameHeader(type: .request, method: Method.route.rawValue, stream: 3),
            message: RouteRequest(
                credentials: Credentials(apiKey: "plt_demo"),
                messages: [ChatMessage(role: "user", content: "hi")]
            )
        )
        XCTAssertEqual(hex(client.readableByteArray), hex(routeClient))

        let error = RPCError(.unimplemented, "Route is not available yet")
        var server = ByteBufferAllocator().buffer(capacity: 64)
        server.writeFrame(FrameHeader(type: .response, stream: 3, value: error.status.rawValue), message: error.payload)
        XCTAssertEqual(hex(server.readableByteArray), hex(routeServer))
    }

    func testDumpsDecodeBackToTheCall() throws {
        // What a server reads from the client bytes, and a client from the server's.
        let fromClient = decodeAll(healthClient + routeClient)
        XCTAssertNil(fromClient.error)
        guard fromClient.items.count == 3, case .frame(let health) = fromClient.items[1],
            case .frame(let route) = fromClient.items[2]
        else {
            return XCTFail("\(fromClient.items)")
        }
        XCTAssertEqual(health.header, FrameHeader(type: .request, method: 5, stream: 1, value: 5_000))
        XCTAssertEqual(try HealthRequest(decoding: health.payload), HealthRequest())
        XCTAssertEqual(try RouteRequest(decoding: route.payload).credentials?.apiKey, "plt_demo")

        let fromServer = decodeAll(healthServer + routeServer)
        guard fromServer.items.count == 3, case .frame(let reply) = fromServer.items[1],
            case .frame(let failure) = fromServer.items[2]
        else {
            return XCTFail("\(fromServer.items)")
        }
        XCTAssertEqual(
            try HealthResponse(decoding: reply.payload),
            HealthResponse(version: "0.1.0", uptimeMs: 1_234, inFlight: 1)
        )
        let error = RPCError(payload: try ErrorPayload(decoding: failure.payload), frameStatus: failure.header.value)
        XCTAssertEqual(error, RPCError(.unimplemented, "Route is not available yet"))
    }

    func testDocumentShowsTheseBytes() throws {
        let document = try String(contentsOf: documentURL, encoding: .utf8)
        for (name, bytes) in [
            ("health-client", healthClient), ("health-server", healthServer),
            ("route-client", routeClient), ("route-server", routeServer),
        ] {
            XCTAssertEqual(try hexDump(named: name, in: document), hex(bytes), "the \(name) dump in PROTOCOL.md")
        }
    }

    private var documentURL: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Protos/PROTOCOL.md")
    }

    /// The bytes of the fenced block that follows `<!-- hexdump: NAME -->`, as "0A 05 ...".
    private func hexDump(named name: String, in document: String) throws -> String {
        let marker = "<!-- hexdump: \(name) -->"
        let afterMarker = try XCTUnwrap(document.range(of: marker), "no \(marker)").upperBound
        let open = try XCTUnwrap(document.range(of: "```text\n", range: afterMarker..<document.endIndex))
        let close = try XCTUnwrap(document.range(of: "```", range: open.upperBound..<document.endIndex))
        var bytes: [UInt8] = []
        for line in document[open.upperBound..<close.lowerBound].split(separator: "\n") {
            let data = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            for token in data.split(separator: " ") {
                bytes.append(try XCTUnwrap(UInt8(token, radix: 16), "\"\(token)\" in \(name)"))
            }
        }
        return hex(bytes)
    }
}
