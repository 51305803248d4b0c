import PelletWire

/// Every method's request decoding through the protobuf-c bridge, as a REQUEST payload reaches
/// it. Byte 0 picks the method (Route, Complete, Usage, Account, Health); the rest is the payload.
/// What decodes must re-encode to bytes that decode to the same value again.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: start, count: count)
    let payload = UnsafeRawBufferPointer(rebasing: input[1...])
    switch input[0] % 5 {
    case 0: roundTrip(RouteRequest.self, payload)
    case 1: roundTrip(CompleteRequest.self, payload)
    case 2: roundTrip(UsageRequest.self, payload)
    case 3: roundTrip(AccountRequest.self, payload)
    default: roundTrip(HealthRequest.self, payload)
    }
    return 0
}

private func roundTrip<Message: WireMessage>(_ type: Message.Type, _ payload: UnsafeRawBufferPointer) {
    guard let message = try? Message(decoding: payload) else { return }
    let encoded = message.encodedBytes()
    guard let again = try? Message(decoding: encoded) else {
        preconditionFailure("\(Message.self) decoded, but its re-encoding does not decode")
    }
    // Compared as bytes: a NaN float is not == itself.
    precondition(again.encodedBytes() == encoded, "\(Message.self) does not re-encode stably")
}
