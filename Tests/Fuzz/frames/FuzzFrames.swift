import NIOCore
import PelletWire

/// The frame decoder and the connection state machine together, as the server runs them: bytes
/// arrive in chunks, each item goes to the state machine, and the harness plays the services
/// (some calls finish, a graceful shutdown may start). A crash, a trap or a broken rule of the
/// protocol is a finding.
///
/// Input: byte 0 picks the chunk size (bits 0-2), the payload limit (bit 3) and after how many
/// frames a graceful shutdown starts (bits 4-7, 0 = never); the rest is the byte stream.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: start, count: count)
    let control = input[0]
    let chunkSize = [1, 2, 3, 7, 16, 64, 4096, Int.max][Int(control & 7)]
    let maxPayloadBytes = control & 8 == 0 ? 4 << 20 : 64
    let shutdownAfterFrames = Int(control >> 4)
    let limits = ConnectionStateMachine.Limits(maxCallsInFlight: 4, retryAfterMsWhenFull: 50)

    var decoder = FrameDecoder(maxPayloadBytes: maxPayloadBytes)
    var machine = ConnectionStateMachine(limits: limits)
    var buffer = ByteBufferAllocator().buffer(capacity: min(count, 1 << 16))
    var inFlight: Set<UInt32> = []
    var frames = 0
    var shuttingDown = false
    var sawPreface = false
    var offset = 1
    while offset < count {
        let end = offset + min(chunkSize, count - offset)
        buffer.writeBytes(UnsafeRawBufferPointer(rebasing: input[offset..<end]))
        offset = end
        while true {
            let readable = buffer.readableBytes
            let item: InboundFrame?
            do {
                item = try decoder.next(from: &buffer)
            } catch {
                precondition(
                    [.invalidArgument, .unimplemented, .resourceExhausted].contains(error.status),
                    "the frame decoder threw \(error)"
                )
                return 0
            }
            guard let item else {
                precondition(buffer.readableBytes == readable, "the decoder consumed bytes without an item")
                break
            }
            switch item {
            case .preface:
                precondition(!sawPreface, "a second preface")
                sawPreface = true
                machine.receivedPreface()
            case .frame(let frame):
                precondition(sawPreface, "a frame before the preface")
                precondition(Int(frame.header.length) == frame.payload.readableBytes, "length and payload differ")
                precondition(frame.payload.readableBytes <= maxPayloadBytes, "a payload over the limit")
                frames += 1
                switch machine.receivedFrame(frame.header) {
                case .startCall(let stream, let method, _, _):
                    precondition(!shuttingDown, "a call started after GOAWAY")
                    precondition(stream != 0 && !inFlight.contains(stream), "stream \(stream) started twice")
                    inFlight.insert(stream)
                    precondition(inFlight.count <= limits.maxCallsInFlight, "over the in-flight limit")
                    // Health answers at once; the other calls stay in flight until cancelled.
                    if method == .health { finish(stream, &machine, &inFlight) }
                case .cancelCall(let stream):
                    precondition(inFlight.contains(stream), "cancelled stream \(stream), which is not in flight")
                    if finish(stream, &machine, &inFlight) { return 0 }
                case .rejectCall(let stream, let error):
                    precondition(error.status != .ok, "a rejection with status OK")
                    precondition(!inFlight.contains(stream) || frame.header.type != .request, "rejected a call in flight")
                case .sendPong:
                    precondition(frame.header.type == .ping && frame.header.stream == 0, "PONG for \(frame.header)")
                case .none:
                    break
                case .connectionError(let error, let lastStream):
                    precondition(error.status != .ok, "a connection error with status OK")
                    precondition(lastStream == machine.lastAcceptedStream, "GOAWAY names another last stream")
                    return 0
                }
                precondition(machine.callsInFlight == inFlight, "the state machine and the harness disagree on calls in flight")
                if frames == shutdownAfterFrames {
                    shuttingDown = true
                    if case .sendGoAway(_, closeNow: true) = machine.beginGracefulShutdown() { return 0 }
                }
            }
        }
    }
    return 0
}

/// Answers a call; true when the connection should now close.
@discardableResult
private func finish(_ stream: UInt32, _ machine: inout ConnectionStateMachine, _ inFlight: inout Set<UInt32>) -> Bool {
    inFlight.remove(stream)
    return machine.callFinished(stream: stream)
}
