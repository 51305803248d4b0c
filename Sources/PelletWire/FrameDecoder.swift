import NIOCore

/// What the peer sent: first its preface, then frames.
public enum InboundFrame: Sendable, Equatable {
    case preface
    case frame(Frame)
}

/// A violation that ends the connection: the receiver answers with GOAWAY carrying this status
/// and message, then closes.
public struct ConnectionError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Status
    public var message: String

    public init(_ status: Status, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status.name): \(message)" }
}

/// Splits a byte stream into the preface and then frames.
///
/// It never consumes a partial frame, and it checks a frame's `length` against the limit as soon
/// as the 16-byte header is in, before a byte of payload is buffered or allocated. The payload it
/// hands on is a slice of the read buffer, not a copy.
public struct FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = InboundFrame

    private enum State {
        case awaitingPreface
        /// The header is validated as soon as it is complete, but nothing is consumed until the
        /// whole frame is in.
        case awaitingFrame
    }

    private var state: State = .awaitingPreface
    public let maxPayloadBytes: Int

    public init(maxPayloadBytes: Int = 4 << 20) {
        self.maxPayloadBytes = maxPayloadBytes
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let item = try next(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(item))
        return .continue
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        // A partial frame at EOF is dropped with the connection: nothing of it was acknowledged.
        try decode(context: context, buffer: &buffer)
    }

    /// The next complete item in `buffer`, or nil when more bytes are needed. Consumes only what
    /// it returns. Independent of NIO's pipeline so that it can be tested and fuzzed directly.
    public mutating func next(from buffer: inout ByteBuffer) throws(ConnectionError) -> InboundFrame? {
        switch state {
        case .awaitingPreface:
            guard buffer.readableBytes >= Preface.bytes.count else {
                // Reject a wrong first byte early rather than waiting for four.
                if let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self), first != Preface.bytes[0] {
                    throw Self.badPreface(buffer.getBytes(at: buffer.readerIndex, length: buffer.readableBytes) ?? [])
                }
                return nil
            }
            let bytes = buffer.readBytes(length: Preface.bytes.count)!
            guard bytes == Preface.bytes else { throw Self.badPreface(bytes) }
            state = .awaitingFrame
            return .preface

        case .awaitingFrame:
            guard buffer.readableBytes >= FrameHeader.size else { return nil }
            let header = try parseHeader(buffer)
            guard buffer.readableBytes >= FrameHeader.size + Int(header.length) else { return nil }
            buffer.moveReaderIndex(forwardBy: FrameHeader.size)
            let payload = buffer.readSlice(length: Int(header.length))!
            return .frame(Frame(header: header, payload: payload))
        }
    }

    private func parseHeader(_ buffer: ByteBuffer) throws(ConnectionError) -> FrameHeader {
        let index = buffer.readerIndex
        let length = buffer.getInteger(at: index, endianness: .big, as: UInt32.self)!
        let rawType = buffer.getInteger(at: index + 4, as: UInt8.self)!
        guard let type = FrameType(rawValue: rawType) else {
            throw ConnectionError(.invalidArgument, "unknown frame type \(rawType); this server speaks protocol version 1 (frame types 1-8)")
        }
        guard Int(length) <= maxPayloadBytes else {
            throw ConnectionError(
                .resourceExhausted,
                "frame payload of \(length) bytes is over the limit of \(maxPayloadBytes) bytes"
            )
        }
        return FrameHeader(
            length: length,
            type: type,
            flags: buffer.getInteger(at: index + 5, as: UInt8.self)!,
            method: buffer.getInteger(at: index + 6, endianness: .big, as: UInt16.self)!,
            stream: buffer.getInteger(at: index + 8, endianness: .big, as: UInt32.self)!,
            value: buffer.getInteger(at: index + 12, endianness: .big, as: UInt32.self)!
        )
    }

    private static func badPreface(_ bytes: [UInt8]) -> ConnectionError {
        let hex = bytes.map { byte in
            let digits = String(byte, radix: 16, uppercase: true)
            return digits.count == 1 ? "0" + digits : digits
        }.joined(separator: " ")
        if bytes.count == 4, Array(bytes.prefix(3)) == Array(Preface.bytes.prefix(3)) {
            return ConnectionError(.unimplemented, "protocol version \(bytes[3]) is not supported; this server speaks version 1")
        }
        return ConnectionError(.invalidArgument, "bad preface \(hex); a connection must start with 50 4C 54 01 (\"PLT\", version 1)")
    }
}
