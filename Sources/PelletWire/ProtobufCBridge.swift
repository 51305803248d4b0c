import CPelletProto
import NIOCore

/// The generated half of the bridge: how one Swift message maps to its protobuf-c struct.
protocol CBridgedMessage: WireMessage {
    associatedtype CMessage
    static func unpack(_ bytes: UnsafeRawBufferPointer) -> UnsafeMutablePointer<CMessage>?
    static func freeUnpacked(_ message: UnsafeMutablePointer<CMessage>)
    /// Builds the C struct; every pointer it holds lives in `arena`.
    func cMessage(in arena: CArena) -> UnsafeMutablePointer<CMessage>
    init(cMessage: UnsafePointer<CMessage>) throws(MessageDecodingError)
}

/// Packs a message with protobuf-c straight into the buffer's writable bytes (no extra copy).
func bridgeEncode<M: CBridgedMessage>(_ message: M, into buffer: inout ByteBuffer) {
    let arena = CArena()
    let cMessage = message.cMessage(in: arena)
    // Every protobuf-c message struct starts with its ProtobufCMessage base.
    let base = UnsafeMutableRawPointer(cMessage).assumingMemoryBound(to: ProtobufCMessage.self)
    let size = protobuf_c_message_get_packed_size(base)
    guard size > 0 else { return }
    buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
        protobuf_c_message_pack(base, out.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }
    withExtendedLifetime(arena) {}
}

func bridgeDecode<M: CBridgedMessage>(
    _ type: M.Type,
    from bytes: UnsafeRawBufferPointer
) throws(MessageDecodingError) -> M {
    // protobuf-c wants a non-null pointer even for an empty message.
    var empty: UInt8 = 0
    let unpacked: UnsafeMutablePointer<M.CMessage>?
    if bytes.isEmpty {
        unpacked = withUnsafeMutablePointer(to: &empty) { M.unpack(UnsafeRawBufferPointer(start: $0, count: 0)) }
    } else {
        unpacked = M.unpack(bytes)
    }
    guard let unpacked else {
        throw MessageDecodingError(messageType: String(describing: M.self).replacingPayloadName())
    }
    defer { M.freeUnpacked(unpacked) }
    // protobuf-c would hand a string with a NUL byte over cut short: refuse it instead. Checked
    // after unpacking, so the walk only ever sees a well-formed payload.
    let base = UnsafeRawPointer(unpacked).assumingMemoryBound(to: ProtobufCMessage.self)
    if let field = StringFieldCheck.fieldWithNulByte(in: bytes, descriptor: base.pointee.descriptor) {
        throw MessageDecodingError(
            messageType: String(describing: M.self).replacingPayloadName(),
            detail: "\(field) contains a NUL byte"
        )
    }
    return try M(cMessage: unpacked)
}

extension String {
    /// The proto name of a Swift message type (only `Error` is renamed on the Swift side).
    fileprivate func replacingPayloadName() -> String { self == "ErrorPayload" ? "Error" : self }
}

// MARK: - Field conversions used by the generated code

func swiftString(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
    guard let pointer else { return "" }
    // Repairs invalid UTF-8 instead of failing: a name with a bad byte is still usable.
    return String(cString: pointer)
}

func swiftBytes(_ data: ProtobufCBinaryData) -> [UInt8] {
    guard data.len > 0, let bytes = data.data else { return [] }
    return Array(UnsafeBufferPointer(start: bytes, count: data.len))
}

func wireEnum<E: RawRepresentable>(
    _ type: E.Type,
    _ raw: UInt32,
    message: String,
    field: String
) throws(MessageDecodingError) -> E where E.RawValue == UInt32 {
    guard let value = E(rawValue: raw) else {
        throw MessageDecodingError(messageType: message, detail: "unknown value \(raw) for \(field) (pellet.v1.\(E.self))")
    }
    return value
}
