import NIOCore
import PelletWire
import XCTest

final class FrameEncodingTests: XCTestCase {
    func testHeaderLayoutIsBigEndian() {
        var buffer = ByteBufferAllocator().buffer(capacity: 16)
        buffer.writeFrameHeader(
            FrameHeader(
                length: 0x0102_0304,
                type: .request,
                flags: 0x01,
                method: 0x0506,
                stream: 0x0708_090A,
                value: 0x0B0C_0D0E
            )
        )
        XCTAssertEqual(
            buffer.readableByteArray,
            [0x01, 0x02, 0x03, 0x04, 0x01, 0x01, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E]
        )
        XCTAssertEqual(FrameHeader.size, 16)
        XCTAssertEqual(Preface.bytes, [0x50, 0x4C, 0x54, 0x01])
    }

    func testProtocolNumbers() {
        XCTAssertEqual(FrameType.allCases.map(\.rawValue), Array(1...8))
        XCTAssertEqual(
            FrameType.allCases,
            [.request, .response, .message, .end, .cancel, .ping, .pong, .goAway]
        )
        XCTAssertEqual(Method.allCases.map(\.rawValue), Array(1...5))
        XCTAssertEqual(Method.allCases.map(\.description), ["Route", "Complete", "Usage", "Account", "Health"])
        XCTAssertEqual(FrameHeader.streamFlag, 0x01)
        XCTAssertEqual(FrameHeader.maxPingPayload, 64)
        XCTAssertTrue(FrameHeader(type: .request, flags: 0x01, stream: 1).isStreamingRequest)
        XCTAssertFalse(FrameHeader(type: .request, flags: 0x02, stream: 1).isStreamingRequest)
    }

    func testEveryFrameTypeRoundTripsThroughWriteFrame() throws {
        let extremes: [(UInt8, UInt16, UInt32, UInt32)] = [
            (0, 0, 1, 0), (0xFF, 0xFFFF, .max, .max), (1, 5, 0x8000_0000, 5_000),
        ]
        for type in FrameType.allCases {
            for (flags, method, stream, value) in extremes {
                let header = FrameHeader(type: type, flags: flags, method: method, stream: stream, value: value)
                let payload = byteBuffer(Array("payload of \(type)".utf8))
                var buffer = ByteBufferAllocator().buffer(capacity: 64)
                buffer.writeBytes(Preface.bytes)
                buffer.writeFrame(header, payload: payload)
                buffer.writeFrame(Frame(header: header, payload: payload))
                let result = decodeAll(buffer.readableByteArray)
                let expected = Frame(header: header, payload: payload)
                XCTAssertEqual(result.items, [.preface, .frame(expected), .frame(expected)])
                XCTAssertEqual(expected.header.length, UInt32(payload.readableBytes))
            }
        }
    }

    func testWriteFrameWithAMessagePatchesTheLength() throws {
        // Whatever length the header carries, the one written is the encoded message's size.
        for claimed: UInt32 in [0, 3, .max] {
            var buffer = ByteBufferAllocator().buffer(capacity: 64)
            buffer.writeBytes(Preface.bytes)
            let header = FrameHeader(length: claimed, type: .response, stream: 9)
            buffer.writeFrame(header, message: Samples.healthResponse)
            buffer.writeFrame(header, message: HealthRequest())
            let result = decodeAll(buffer.readableByteArray)
            XCTAssertNil(result.error)
            guard result.items.count == 3, case .frame(let first) = result.items[1],
                case .frame(let second) = result.items[2]
            else {
                return XCTFail("\(result.items)")
            }
            XCTAssertEqual(Int(first.header.length), Samples.healthResponse.encodedBytes().count)
            XCTAssertEqual(try HealthResponse(decoding: first.payload), Samples.healthResponse)
            XCTAssertEqual(second.header.length, 0)
            XCTAssertEqual(second.payload.readableBytes, 0)
        }
    }

    func testWriteFrameWithAPayloadOverridesTheLength() {
        var buffer = ByteBufferAllocator().buffer(capacity: 32)
        buffer.writeFrame(FrameHeader(length: 99, type: .ping, stream: 0), payload: byteBuffer([1, 2, 3]))
        XCTAssertEqual(buffer.readableByteArray, [0, 0, 0, 3, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3])
    }
}
