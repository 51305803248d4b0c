import NIOCore
import PelletWire

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast generator whose whole state is one seed,
/// so a failing fuzz case is reproduced from the seed printed with it.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func bytes(count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            var word = next()
            for _ in 0..<min(8, count - out.count) {
                out.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
        }
        return out
    }
}

/// "0A 05 30 2E": how the tests and Protos/PROTOCOL.md print bytes.
func hex(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { byte in
        let digits = String(byte, radix: 16, uppercase: true)
        return digits.count == 1 ? "0" + digits : digits
    }.joined(separator: " ")
}

func byteBuffer(_ bytes: [UInt8]) -> ByteBuffer {
    var buffer = ByteBufferAllocator().buffer(capacity: bytes.count)
    buffer.writeBytes(bytes)
    return buffer
}

extension ByteBuffer {
    var readableByteArray: [UInt8] { getBytes(at: readerIndex, length: readableBytes) ?? [] }
}

/// The protobuf encoding of a string field: tag, length, UTF-8 bytes (lengths under 128 only).
func stringField(_ tag: UInt8, _ text: String) -> [UInt8] {
    let utf8 = Array(text.utf8)
    precondition(utf8.count < 128, "one-byte lengths only")
    return [tag, UInt8(utf8.count)] + utf8
}

/// The protobuf encoding of a length-delimited field holding `body` (lengths under 128 only).
func lengthDelimited(_ tag: UInt8, _ body: [UInt8]) -> [UInt8] {
    precondition(body.count < 128, "one-byte lengths only")
    return [tag, UInt8(body.count)] + body
}

/// A float field's value as protobuf sends it: fixed32, little-endian IEEE 754.
func fixed32(_ value: Float) -> [UInt8] {
    withUnsafeBytes(of: value.bitPattern.littleEndian, Array.init)
}

/// Decodes everything the decoder yields from `bytes` delivered in one piece.
func decodeAll(
    _ bytes: [UInt8],
    maxPayloadBytes: Int = 4 << 20
) -> (items: [InboundFrame], error: ConnectionError?, leftover: Int) {
    var decoder = FrameDecoder(maxPayloadBytes: maxPayloadBytes)
    var buffer = byteBuffer(bytes)
    var items: [InboundFrame] = []
    do {
        while let item = try decoder.next(from: &buffer) { items.append(item) }
    } catch {
        return (items, error, buffer.readableBytes)
    }
    return (items, nil, buffer.readableBytes)
}
