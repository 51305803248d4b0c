import NIOCore

/// The 4 bytes each side sends first: "PLT" and the protocol version.
public enum Preface {
    public static let version: UInt8 = 1
    public static let bytes: [UInt8] = [0x50, 0x4C, 0x54, version]
}

public enum FrameType: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case request = 1
    case response = 2
    case message = 3
    case end = 4
    case cancel = 5
    case ping = 6
    case pong = 7
    case goAway = 8

    /// The name DESIGN.md uses: "REQUEST", "GOAWAY".
    public var description: String {
        switch self {
        case .request: "REQUEST"
        case .response: "RESPONSE"
        case .message: "MESSAGE"
        case .end: "END"
        case .cancel: "CANCEL"
        case .ping: "PING"
        case .pong: "PONG"
        case .goAway: "GOAWAY"
        }
    }
}

/// RPC methods (the REQUEST frame's `method` field).
public enum Method: UInt16, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case route = 1
    case complete = 2
    case usage = 3
    case account = 4
    case health = 5

    public var description: String {
        switch self {
        case .route: "Route"
        case .complete: "Complete"
        case .usage: "Usage"
        case .account: "Account"
        case .health: "Health"
        }
    }
}

/// The fixed 16-byte frame header (all integers big-endian).
public struct FrameHeader: Sendable, Hashable {
    public static let size = 16
    /// REQUEST flag: the caller wants a streamed reply (MESSAGE frames, then END).
    public static let streamFlag: UInt8 = 0x01
    /// The largest PING payload; a PONG echoes it.
    public static let maxPingPayload = 64

    /// Payload bytes after the header.
    public var length: UInt32
    public var type: FrameType
    public var flags: UInt8
    /// The method of a REQUEST; 0 for every other type.
    public var method: UInt16
    public var stream: UInt32
    /// REQUEST: timeout in ms (0 = server default); RESPONSE/END: status; GOAWAY: last stream
    /// accepted; otherwise 0.
    public var value: UInt32

    public init(length: UInt32 = 0, type: FrameType, flags: UInt8 = 0, method: UInt16 = 0, stream: UInt32, value: UInt32 = 0) {
        self.length = length
        self.type = type
        self.flags = flags
        self.method = method
        self.stream = stream
        self.value = value
    }

    public var isStreamingRequest: Bool { flags & Self.streamFlag != 0 }
}

public struct Frame: Sendable, Equatable {
    public var header: FrameHeader
    public var payload: ByteBuffer

    public init(header: FrameHeader, payload: ByteBuffer) {
        self.header = header
        self.payload = payload
        self.header.length = UInt32(payload.readableBytes)
    }
}

extension ByteBuffer {
    /// Writes a header; `length` is taken as given.
    @inlinable
    public mutating func writeFrameHeader(_ header: FrameHeader) {
        writeMultipleIntegers(
            header.length, header.type.rawValue, header.flags, header.method, header.stream, header.value,
            endianness: .big
        )
    }

    /// Writes a whole frame whose payload is a message encoded in place, with no extra copy:
    /// the header's length is patched once the payload size is known.
    public mutating func writeFrame(_ header: FrameHeader, message: some WireMessage) {
        let headerIndex = writerIndex
        writeFrameHeader(header)
        let payloadStart = writerIndex
        message.encode(into: &self)
        setInteger(UInt32(writerIndex - payloadStart), at: headerIndex, endianness: .big)
    }

    public mutating func writeFrame(_ header: FrameHeader, payload: ByteBuffer) {
        var header = header
        header.length = UInt32(payload.readableBytes)
        writeFrameHeader(header)
        writeImmutableBuffer(payload)
    }

    public mutating func writeFrame(_ frame: Frame) {
        writeFrame(frame.header, payload: frame.payload)
    }
}
