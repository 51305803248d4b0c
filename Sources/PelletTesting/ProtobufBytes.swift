/// Protobuf encodings built by hand, for payloads the Swift encoder cannot produce (it writes
/// strings as C strings, so a string with a NUL byte never leaves it whole).
public enum ProtobufBytes {
    /// A length-delimited field (wire type 2): tag, varint length, `body`.
    public static func field(_ number: Int, _ body: [UInt8]) -> [UInt8] {
        varint(UInt64(number) << 3 | 2) + varint(UInt64(body.count)) + body
    }

    public static func field(_ number: Int, _ text: String) -> [UInt8] {
        field(number, Array(text.utf8))
    }

    public static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var bytes: [UInt8] = []
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
        return bytes
    }
}
