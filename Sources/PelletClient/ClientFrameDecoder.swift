import NIOCore
import PelletWire

/// `FrameDecoder` for the client side, which also accepts the one answer a server may give
/// instead of its preface: a GOAWAY frame (wrong version or a bad preface), then close.
///
/// A preface starts with "P" (0x50); a GOAWAY frame starts with its big-endian payload length,
/// whose first byte is 0 for any Error payload under 16 MiB. So the first byte tells which one
/// is coming; for a frame, the inner decoder is moved past its preface state by feeding it the
/// preface bytes, and the handler then sees `.frame(GOAWAY)` where it expected `.preface`.
struct ClientFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = InboundFrame

    private var frames: FrameDecoder
    private var isAwaitingFirstByte = true

    init(maxPayloadBytes: Int) {
        frames = FrameDecoder(maxPayloadBytes: maxPayloadBytes)
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if isAwaitingFirstByte {
            guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return .needMoreData }
            isAwaitingFirstByte = false
            if first != Preface.bytes[0] {
                var preface = ByteBuffer(bytes: Preface.bytes)
                _ = try frames.next(from: &preface)
            }
        }
        guard let item = try frames.next(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(item))
        return .continue
    }

    mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}
