import NIOCore
import PelletWire

/// `FrameDecoder` inside `ConnectionHandler`, with the bytes a read left over and the report of
/// partial frames.
///
/// Not a handler of its own in the pipeline: a decoded frame reaches the connection as a value,
/// not boxed in an `NIOAny` and passed along the pipeline (an allocation and a handler hop per
/// frame), which is most of what a frame's decoding cost under pipelined calls.
struct ConnectionFrameDecoder {
    private var decoder: FrameDecoder
    /// The bytes of the last read not decoded yet: the start of a frame (or of the preface).
    private var buffer: ByteBuffer?
    private var partialReported = false

    init(maxPayloadBytes: Int) {
        decoder = FrameDecoder(maxPayloadBytes: maxPayloadBytes)
    }

    /// Takes the bytes of one read.
    mutating func append(_ bytes: ByteBuffer) {
        guard var held = buffer else {
            buffer = bytes
            return
        }
        buffer = nil
        // The consumed front goes first, so a frame that spans many reads never grows the
        // buffer by more than the frame itself.
        held.discardReadBytes()
        var bytes = bytes
        held.writeBuffer(&bytes)
        buffer = held
    }

    /// The next complete item, or nil when more bytes are needed. Consumes only what it returns.
    mutating func next() throws(ConnectionError) -> InboundFrame? {
        guard var held = buffer else { return nil }
        buffer = nil
        defer { if held.readableBytes > 0 { buffer = held } }
        guard let item = try decoder.next(from: &held) else { return nil }
        partialReported = false
        return item
    }

    /// True once per frame: when the bytes left after a read are the start of an incomplete
    /// frame, the first time. The connection then gives the client the handshake timeout to send
    /// the rest, so that nobody holds a partial frame's buffer for long.
    mutating func partialFrameStarted() -> Bool {
        guard let buffer, buffer.readableBytes > 0, !partialReported else { return false }
        partialReported = true
        return true
    }
}
