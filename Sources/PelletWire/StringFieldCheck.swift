import CPelletProto

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Finds a NUL byte in the string fields of an encoded message.
///
/// protobuf-c hands a `string` field over as a C string, so "ab\0cd" would reach Swift as "ab":
/// a request whose text changed silently. The encoding is walked once with the message's
/// protobuf-c descriptors (no allocation unless a NUL is found): each length-delimited field
/// whose descriptor says STRING is searched with `memchr`, each MESSAGE field is walked with its
/// own descriptor; `bytes` fields, unknown fields and scalars are skipped.
enum StringFieldCheck {
    /// The dotted field path ("messages.content") of the first string field holding a NUL
    /// byte, or nil if there is none. `bytes` is a payload protobuf-c has already unpacked as
    /// `descriptor`'s message, so it is well formed; the walk still stops at anything it does
    /// not expect rather than trusting that.
    static func fieldWithNulByte(
        in bytes: UnsafeRawBufferPointer,
        descriptor: UnsafePointer<ProtobufCMessageDescriptor>
    ) -> String? {
        var path: [String] = []
        guard findNulByte(in: bytes, descriptor: descriptor, path: &path) else { return nil }
        return path.reversed().joined(separator: ".")
    }

    /// True if a string field under `descriptor` holds a NUL byte; `path` then gets the field
    /// names, innermost first (appended while returning, so a clean message allocates nothing).
    private static func findNulByte(
        in bytes: UnsafeRawBufferPointer,
        descriptor: UnsafePointer<ProtobufCMessageDescriptor>,
        path: inout [String]
    ) -> Bool {
        var offset = 0
        while offset < bytes.count {
            guard let key = varint(bytes, &offset) else { return false }
            switch key & 7 {
            case 0:
                guard varint(bytes, &offset) != nil else { return false }
            case 1:
                offset += 8
            case 5:
                offset += 4
            case 2:
                guard let length = varint(bytes, &offset), length <= UInt64(bytes.count - offset) else { return false }
                let body = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + Int(length)])
                offset += Int(length)
                guard let start = body.baseAddress, !body.isEmpty, key >> 3 <= UInt64(UInt32.max),
                    let field = protobuf_c_message_descriptor_get_field(descriptor, UInt32(key >> 3))
                else { continue }
                let found: Bool
                switch field.pointee.type {
                case PROTOBUF_C_TYPE_STRING:
                    found = memchr(start, 0, body.count) != nil
                case PROTOBUF_C_TYPE_MESSAGE:
                    // A MESSAGE field's descriptor is its message's (protobuf-c's contract).
                    guard let nested = field.pointee.descriptor?.assumingMemoryBound(to: ProtobufCMessageDescriptor.self)
                    else { continue }
                    found = findNulByte(in: body, descriptor: nested, path: &path)
                default:
                    found = false
                }
                if found {
                    path.append(String(cString: field.pointee.name))
                    return true
                }
            default:
                // Groups: protobuf-c does not take them, so an unpacked message has none.
                return false
            }
        }
        return false
    }

    private static func varint(_ bytes: UnsafeRawBufferPointer, _ offset: inout Int) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while offset < bytes.count, shift < 64 {
            let byte = bytes[offset]
            offset += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        return nil
    }
}
