import NIOCore
import PelletWire

/// Fired (as a user inbound event) when the decoder holds the start of a frame, or of the
/// preface, that is not complete yet: the connection then gives the client the handshake
/// timeout to send the rest, so that nobody holds a partial frame's buffer for long.
struct PartialFrameStarted {}

/// `FrameDecoder` in the pipeline, reporting partial frames.
///
/// At most one event per frame: one when the first incomplete bytes are left over after a read,
/// none again until a frame is complete.
struct ConnectionFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = InboundFrame

    private var decoder: FrameDecoder
    private var partialReported = false

    init(maxPayloadBytes: Int) {
        decoder = FrameDecoder(maxPayloadBytes: maxPayloadBytes)
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if let item = try decoder.next(from: &buffer) {
            partialReported = false
            context.fireChannelRead(wrapInboundOut(item))
            return .continue
        }
        if buffer.readableBytes > 0, !partialReported {
            partialReported = true
            context.fireUserInboundEventTriggered(PartialFrameStarted())
        }
        return .needMoreData
    }

    mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        // A partial frame at EOF is dropped with the connection: nothing of it was acknowledged.
        try decode(context: context, buffer: &buffer)
    }
}
