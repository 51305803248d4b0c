import NIOCore
import PelletWire
import XCTest

final class FrameDecoderTests: XCTestCase {
    private static let streamedRequest = CompleteRequest(
        credentials: Samples.credentials,
        messages: [Samples.chatMessage],
        stop: ["\n"]
    )

    /// A client's opening: preface, a unary call, a streamed call, a PING, a CANCEL and frames
    /// with empty payloads.
    private let frames: [Frame] = [
        Frame(
            header: FrameHeader(type: .request, method: Method.health.rawValue, stream: 1, value: 5_000),
            payload: byteBuffer([])
        ),
        Frame(
            header: FrameHeader(
                type: .request,
                flags: FrameHeader.streamFlag,
                method: Method.complete.rawValue,
                stream: 7
            ),
            payload: byteBuffer(FrameDecoderTests.streamedRequest.encodedBytes())
        ),
        Frame(header: FrameHeader(type: .ping, stream: 0), payload: byteBuffer(Array(0..<64))),
        Frame(header: FrameHeader(type: .cancel, stream: 7), payload: byteBuffer([])),
        Frame(header: FrameHeader(type: .pong, stream: 0), payload: byteBuffer([])),
        Frame(
            header: FrameHeader(type: .goAway, stream: 0, value: 7),
            payload: byteBuffer(ErrorPayload(code: 14, message: "shutting down").encodedBytes())
        ),
    ]

    private var wireBytes: [UInt8] {
        var buffer = ByteBufferAllocator().buffer(capacity: 256)
        buffer.writeBytes(Preface.bytes)
        for frame in frames { buffer.writeFrame(frame) }
        return buffer.readableByteArray
    }

    private var expectedItems: [InboundFrame] { [.preface] + frames.map { .frame($0) } }

    func testOneShotDecoding() {
        let result = decodeAll(wireBytes)
        XCTAssertNil(result.error)
        XCTAssertEqual(result.items, expectedItems)
        XCTAssertEqual(result.leftover, 0)
    }

    func testByteAtATimeGivesTheSameFramesAsOneShot() throws {
        var decoder = FrameDecoder()
        var buffer = ByteBufferAllocator().buffer(capacity: 0)
        var items: [InboundFrame] = []
        for byte in wireBytes {
            buffer.writeInteger(byte)
            while true {
                let before = buffer.readerIndex
                guard let item = try decoder.next(from: &buffer) else {
                    XCTAssertEqual(buffer.readerIndex, before, "a partial frame was consumed")
                    break
                }
                items.append(item)
            }
        }
        XCTAssertEqual(items, expectedItems)
        XCTAssertEqual(buffer.readableBytes, 0)
    }

    func testManyFramesInOneBuffer() throws {
        var buffer = ByteBufferAllocator().buffer(capacity: 1 << 16)
        buffer.writeBytes(Preface.bytes)
        for stream in UInt32(1)...2_000 {
            let chunk = CompleteChunk(delta: "piece \(stream)")
            buffer.writeFrame(FrameHeader(type: .message, stream: stream), message: chunk)
        }
        var decoder = FrameDecoder()
        XCTAssertEqual(try decoder.next(from: &buffer), .preface)
        for stream in UInt32(1)...2_000 {
            guard case .frame(let frame) = try decoder.next(from: &buffer) else {
                return XCTFail("frame \(stream) missing")
            }
            XCTAssertEqual(frame.header.stream, stream)
            XCTAssertEqual(frame.header.type, .message)
            XCTAssertEqual(try CompleteChunk(decoding: frame.payload), CompleteChunk(delta: "piece \(stream)"))
        }
        XCTAssertNil(try decoder.next(from: &buffer))
        XCTAssertEqual(buffer.readableBytes, 0)
    }

    func testPayloadIsASliceNotACopy() throws {
        // The decoder hands on part of the read buffer; a payload must still read correctly
        // after the buffer it came from has moved on.
        var buffer = byteBuffer(wireBytes)
        var decoder = FrameDecoder()
        _ = try decoder.next(from: &buffer)
        _ = try decoder.next(from: &buffer)
        guard case .frame(let streamed) = try decoder.next(from: &buffer) else { return XCTFail() }
        buffer.discardReadBytes()
        buffer.writeBytes(Array(repeating: 0xEE, count: 1_024))
        XCTAssertEqual(try CompleteRequest(decoding: streamed.payload), FrameDecoderTests.streamedRequest)
    }

    // MARK: - Limits

    func testHugeLengthIsRejectedAsSoonAsTheHeaderIsComplete() {
        let header: [UInt8] = [
            0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
        ]
        var decoder = FrameDecoder()
        var buffer = byteBuffer(Preface.bytes + header.prefix(15))
        XCTAssertEqual(try decoder.next(from: &buffer), .preface)
        XCTAssertNil(try decoder.next(from: &buffer), "15 header bytes: wait for the 16th")
        buffer.writeBytes(header.suffix(1))
        XCTAssertEqual(buffer.readableBytes, FrameHeader.size, "only the header is available")
        XCTAssertThrowsError(try decoder.next(from: &buffer)) { error in
            XCTAssertEqual((error as? ConnectionError)?.status, .resourceExhausted)
            XCTAssertTrue("\(error)".contains("4294967295"), "\(error)")
        }
    }

    func testDefaultLimitIsFourMebibytes() {
        XCTAssertEqual(FrameDecoder().maxPayloadBytes, 4 * 1_024 * 1_024)
        func header(length: UInt32) -> [UInt8] {
            var buffer = ByteBufferAllocator().buffer(capacity: 16)
            buffer.writeFrameHeader(FrameHeader(length: length, type: .request, method: 2, stream: 1))
            return Preface.bytes + buffer.readableByteArray
        }
        let atLimit = decodeAll(header(length: 4 << 20))
        XCTAssertNil(atLimit.error, "exactly the limit is allowed (and waits for the payload)")
        XCTAssertEqual(atLimit.leftover, 16)
        XCTAssertEqual(decodeAll(header(length: (4 << 20) + 1)).error?.status, .resourceExhausted)
    }

    func testConfiguredLimitAppliesToEveryFrameType() {
        for type in FrameType.allCases {
            var frame = ByteBufferAllocator().buffer(capacity: 64)
            frame.writeFrame(FrameHeader(type: type, stream: 1), payload: byteBuffer(Array(repeating: 1, count: 33)))
            let over = decodeAll(Preface.bytes + frame.readableByteArray, maxPayloadBytes: 32)
            XCTAssertEqual(over.error?.status, .resourceExhausted, "\(type)")
            XCTAssertEqual(over.items, [.preface])
            let fits = decodeAll(Preface.bytes + frame.readableByteArray, maxPayloadBytes: 33)
            XCTAssertNil(fits.error)
            XCTAssertEqual(fits.items.count, 2)
        }
    }

    // MARK: - Preface

    func testBadPrefaceIsInvalidArgument() {
        for bytes: [UInt8] in [
            Array("GET / HTTP/1.1\r\n".utf8), [0x50, 0x4C, 0x58, 0x01], [0x00, 0x00, 0x00, 0x00], [0x16, 0x03, 0x01],
        ] {
            let result = decodeAll(bytes)
            XCTAssertEqual(result.error?.status, .invalidArgument, hex(bytes))
            XCTAssertTrue(result.error?.message.contains("50 4C 54 01") ?? false, "\(String(describing: result.error))")
            XCTAssertEqual(result.items, [])
        }
        // A wrong first byte is refused at once, without waiting for four.
        XCTAssertEqual(decodeAll([0x47]).error?.status, .invalidArgument)
    }

    func testOtherVersionIsUnimplemented() {
        for version: UInt8 in [0, 2, 0xFF] {
            let result = decodeAll([0x50, 0x4C, 0x54, version])
            XCTAssertEqual(result.error?.status, .unimplemented, "version \(version)")
            XCTAssertTrue(result.error?.message.contains("version \(version)") ?? false)
        }
    }

    func testPartialPrefaceWaits() {
        for count in 0..<4 {
            let result = decodeAll(Array(Preface.bytes.prefix(count)))
            XCTAssertNil(result.error)
            XCTAssertEqual(result.items, [])
            XCTAssertEqual(result.leftover, count)
        }
    }

    // MARK: - Frame types

    func testUnknownFrameTypesAreInvalidArgument() {
        for type: UInt8 in [0, 9, 0xFF] {
            let header: [UInt8] = [0, 0, 0, 0, type, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
            let result = decodeAll(Preface.bytes + header)
            XCTAssertEqual(result.error?.status, .invalidArgument, "type \(type)")
            XCTAssertTrue(result.error?.message.contains("frame type \(type)") ?? false)
            XCTAssertEqual(result.items, [.preface])
        }
    }

    func testZeroLengthPayloads() throws {
        for type in FrameType.allCases {
            let header: [UInt8] = [0, 0, 0, 0, type.rawValue, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0]
            let result = decodeAll(Preface.bytes + header)
            XCTAssertNil(result.error)
            guard result.items.count == 2, case .frame(let frame) = result.items[1] else {
                XCTFail("\(type): \(result.items)")
                continue
            }
            XCTAssertEqual(frame.header, FrameHeader(length: 0, type: type, stream: 3))
            XCTAssertEqual(frame.payload.readableBytes, 0)
        }
    }

    func testDecoderDoesNotJudgeFieldsThatTheServerChecks() throws {
        // Stream 0, reserved flags and unknown methods are the connection's business (they
        // become connection or call errors there); the decoder hands them on unchanged.
        let header = FrameHeader(type: .request, flags: 0xFE, method: 0xFFFF, stream: 0, value: .max)
        var buffer = ByteBufferAllocator().buffer(capacity: 16)
        buffer.writeFrame(header, payload: byteBuffer([]))
        let result = decodeAll(Preface.bytes + buffer.readableByteArray)
        XCTAssertEqual(result.items, [.preface, .frame(Frame(header: header, payload: byteBuffer([])))])
    }
}
