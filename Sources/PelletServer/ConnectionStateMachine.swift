import PelletWire

/// The protocol rules of one connection, as a value type: which calls are in flight, the limits,
/// PING/PONG, CANCEL and GOAWAY. It performs no I/O; it returns what the connection must do, so
/// that every rule is unit-tested without a socket.
struct ConnectionStateMachine {
    struct Limits {
        var maxCallsInFlight: Int = 1024
        /// Suggested wait before a caller that hit `maxCallsInFlight` tries again.
        var retryAfterMsWhenFull: UInt32 = 50
    }

    private enum Phase: Equatable {
        case awaitingPreface
        case active
        /// GOAWAY sent for a graceful shutdown: calls in flight finish, new calls are refused.
        case draining
        case closed
    }

    enum FrameAction: Equatable {
        /// Start the call; it is now in flight until `callFinished`.
        case startCall(stream: UInt32, method: Method, streaming: Bool, timeoutMs: UInt32)
        /// Answer this stream with an error at once; it never entered the in-flight set.
        case rejectCall(stream: UInt32, RPCError)
        /// The client cancelled a call in flight: answer CANCELLED and stop its work.
        case cancelCall(stream: UInt32)
        case sendPong
        case none
        /// Send GOAWAY with this error, then close.
        case connectionError(ConnectionError, lastStream: UInt32)
    }

    enum ShutdownAction: Equatable {
        case sendGoAway(lastStream: UInt32, closeNow: Bool)
        case none
    }

    let limits: Limits
    private var phase: Phase = .awaitingPreface
    private(set) var callsInFlight: Set<UInt32> = []
    /// The highest stream id accepted so far: a GOAWAY tells the client which calls will finish.
    private(set) var lastAcceptedStream: UInt32 = 0

    init(limits: Limits = Limits()) {
        self.limits = limits
    }

    var isDraining: Bool { phase == .draining }

    mutating func receivedPreface() {
        if phase == .awaitingPreface { phase = .active }
    }

    mutating func receivedFrame(_ header: FrameHeader) -> FrameAction {
        guard phase == .active || phase == .draining else { return .none }
        switch header.type {
        case .request:
            return receivedRequest(header)
        case .cancel:
            return callsInFlight.contains(header.stream) ? .cancelCall(stream: header.stream) : .none
        case .ping:
            guard header.stream == 0 else {
                return fail(.invalidArgument, "PING must be sent on stream 0, not stream \(header.stream)")
            }
            guard header.length <= FrameHeader.maxPingPayload else {
                return fail(.invalidArgument, "PING payload of \(header.length) bytes is over the limit of \(FrameHeader.maxPingPayload)")
            }
            return .sendPong
        case .pong:
            // The server sends no PINGs of its own yet; an unsolicited PONG is harmless.
            return .none
        case .response, .message, .end, .goAway:
            return fail(.invalidArgument, "a client may not send \(header.type) frames (it sends REQUEST, CANCEL and PING)")
        }
    }

    private mutating func receivedRequest(_ header: FrameHeader) -> FrameAction {
        let stream = header.stream
        guard stream != 0 else {
            return fail(.invalidArgument, "REQUEST on stream 0; stream ids must be non-zero")
        }
        guard !callsInFlight.contains(stream) else {
            return fail(.invalidArgument, "REQUEST on stream \(stream), which is already in flight; stream ids must be unique among calls in flight")
        }
        guard phase == .active else {
            return .rejectCall(stream: stream, RPCError(.unavailable, "the server is shutting down and accepts no new calls; retry on a new connection"))
        }
        guard header.flags & ~FrameHeader.streamFlag == 0 else {
            return .rejectCall(stream: stream, RPCError(.invalidArgument, "REQUEST flags 0x\(String(header.flags, radix: 16)) set reserved bits; only bit 0 (STREAM) is defined"))
        }
        guard let method = Method(rawValue: header.method) else {
            return .rejectCall(stream: stream, RPCError(.unimplemented, "unknown method \(header.method); methods are 1 Route, 2 Complete, 3 Usage, 4 Account, 5 Health"))
        }
        guard callsInFlight.count < limits.maxCallsInFlight else {
            return .rejectCall(
                stream: stream,
                RPCError(.resourceExhausted, "too many calls in flight on this connection (limit \(limits.maxCallsInFlight)); wait for some to finish or open another connection", retryAfterMs: limits.retryAfterMsWhenFull)
            )
        }
        callsInFlight.insert(stream)
        lastAcceptedStream = max(lastAcceptedStream, stream)
        return .startCall(stream: stream, method: method, streaming: header.isStreamingRequest, timeoutMs: header.value)
    }

    /// A call answered (by its service, a deadline, or a cancel). Returns true when the
    /// connection should now close: it is draining and this was the last call.
    mutating func callFinished(stream: UInt32) -> Bool {
        callsInFlight.remove(stream)
        return phase == .draining && callsInFlight.isEmpty
    }

    mutating func beginGracefulShutdown() -> ShutdownAction {
        switch phase {
        case .awaitingPreface:
            phase = .closed
            return .sendGoAway(lastStream: 0, closeNow: true)
        case .active:
            phase = .draining
            return .sendGoAway(lastStream: lastAcceptedStream, closeNow: callsInFlight.isEmpty)
        case .draining, .closed:
            return .none
        }
    }

    mutating func closed() {
        phase = .closed
        callsInFlight.removeAll()
    }

    private mutating func fail(_ status: Status, _ message: String) -> FrameAction {
        phase = .closed
        return .connectionError(ConnectionError(status, message), lastStream: lastAcceptedStream)
    }
}
