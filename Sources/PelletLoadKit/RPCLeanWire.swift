import NIOCore
import PelletWire

/// Pellet's binary RPC for the lean client: each request's frame is encoded once before the run
/// (a call copies it and writes its stream id), and an answer's header is all that is read of it.
///
/// A call's stream id names its slot (2 × slot + 1): an id is free again once its call is
/// answered, so a slot's next call reuses it, and an answer finds its call without a hash.
/// Answers may come in any order.
struct RPCLeanWire: LeanWire {
    /// One REQUEST frame per prompt, stream id 0 (written per call at `streamOffset`).
    let frames: [[UInt8]]

    static let streamOffset = 8

    /// One REQUEST frame per payload, for `method`.
    init(method: PelletWire.Method, payloads: [ByteBuffer]) {
        frames = payloads.map { payload in
            var frame = ByteBuffer()
            frame.writeFrame(FrameHeader(type: .request, method: method.rawValue, stream: 0), payload: payload)
            return Array(frame.readableBytesView)
        }
    }

    var requestCount: Int { frames.count }

    func appendRequest(prompt: Int, slot: Int, to output: inout [UInt8]) {
        let stream = UInt32(2 * slot + 1)
        let at = output.count
        output += frames[prompt]
        output[at + Self.streamOffset] = UInt8(truncatingIfNeeded: stream >> 24)
        output[at + Self.streamOffset + 1] = UInt8(truncatingIfNeeded: stream >> 16)
        output[at + Self.streamOffset + 2] = UInt8(truncatingIfNeeded: stream >> 8)
        output[at + Self.streamOffset + 3] = UInt8(truncatingIfNeeded: stream)
    }

    /// Every whole frame: a RESPONSE or END answers its stream's call; a GOAWAY ends the
    /// connection (the calls still out get no answer).
    func takeAnswers(
        from bytes: UnsafeRawBufferPointer,
        answered: (_ slot: Int, _ outcome: LoadOutcome) -> Void
    ) -> Int? {
        var used = 0
        while bytes.count - used >= FrameHeader.size {
            let header = bytes.baseAddress! + used
            let length = Int(Self.bigEndian(header, 0))
            guard bytes.count - used >= FrameHeader.size + length else { break }
            used += FrameHeader.size + length
            switch FrameType(rawValue: header.load(fromByteOffset: 4, as: UInt8.self)) {
            case .response, .end:
                let stream = Self.bigEndian(header, 8)
                // An even id is none of ours: no call of this connection ends with it.
                guard stream & 1 == 1 else { continue }
                answered(Int(stream >> 1), .status(Status(wireValue: Self.bigEndian(header, 12))))
            case .goAway:
                return nil
            default:
                // MESSAGE frames of a streamed call, a PONG: no call ends with them.
                break
            }
        }
        return used
    }

    private static func bigEndian(_ pointer: UnsafeRawPointer, _ offset: Int) -> UInt32 {
        UInt32(bigEndian: pointer.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
}
