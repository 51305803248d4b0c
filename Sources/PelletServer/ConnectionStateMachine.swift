import NIOCore
import PelletWire

/// The protocol rules of one connection, as a value type: which calls are in flight, the limits,
/// PING/PONG, CANCEL, GOAWAY and the connection's timeouts. It performs no I/O and reads no clock
/// (the time comes with each event); it returns what the connection must do, so that every rule
/// is unit-tested without a socket.
struct ConnectionStateMachine {
    struct Limits {
        var maxCallsInFlight: Int = 1024
        /// Suggested wait before a caller that hit `maxCallsInFlight` tries again.
        var retryAfterMsWhenFull: UInt32 = 50
        /// The preface, and each frame once its first byte is in, must be complete within this
        /// (nil: no limit): a client cannot hold a connection, or a partial frame's buffer, by
        /// sending part of it and nothing more.
        var handshakeTimeout: TimeAmount?
        /// A connection with no call in flight that sends nothing for this long is closed (nil:
        /// never).
        var idleTimeout: TimeAmount?
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

    enum TimerAction: Equatable {
        case none
        /// Send GOAWAY with this error and close at once, without waiting for the client to
        /// read it: a client that stalls may not read either.
        case close(ConnectionError, lastStream: UInt32)
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
    /// Since when the preface or a frame has been partly received; nil when nothing is partial.
    private var partialSince: NIODeadline?
    /// When the client last sent bytes.
    private var lastActivity: NIODeadline
    /// Reading is paused (the client does not read its replies): bytes that wait in the socket
    /// are then not the client's delay, so the handshake timeout does not run.
    private var readsPaused = false

    /// `now`: when the connection was accepted; the preface is due within the handshake timeout.
    init(limits: Limits = Limits(), now: NIODeadline = .now()) {
        self.limits = limits
        self.partialSince = now
        self.lastActivity = now
    }

    var isDraining: Bool { phase == .draining }

    mutating func receivedPreface() {
        partialSince = nil
        if phase == .awaitingPreface { phase = .active }
    }

    /// Bytes came in (once per read, not per frame).
    mutating func receivedBytes(now: NIODeadline) {
        lastActivity = now
    }

    /// The decoder holds the start of a frame that is not complete yet.
    mutating func partialFrameStarted(now: NIODeadline) {
        if partialSince == nil { partialSince = now }
    }

    /// Reading stopped (true) or resumed (false) for backpressure.
    mutating func readsPaused(_ paused: Bool, now: NIODeadline) {
        guard paused != readsPaused else { return }
        readsPaused = paused
        // The wait for the rest of a frame starts again once the bytes can be read.
        if !paused, partialSince != nil { partialSince = now }
    }

    /// When `timerFired` has something to do, at the earliest; nil: no timeout applies now.
    /// Activity only moves deadlines later, so a timer set for an earlier deadline just checks
    /// again when it fires.
    var nextDeadline: NIODeadline? {
        guard phase != .closed else { return nil }
        if let partialSince {
            guard let timeout = limits.handshakeTimeout, !readsPaused else { return nil }
            return partialSince + timeout
        }
        guard phase == .active, callsInFlight.isEmpty, let timeout = limits.idleTimeout else { return nil }
        return lastActivity + timeout
    }

    mutating func timerFired(now: NIODeadline) -> TimerAction {
        guard let deadline = nextDeadline, deadline <= now else { return .none }
        let lastStream = lastAcceptedStream
        let waited = (now - (partialSince ?? lastActivity)).nanoseconds / 1_000_000
        let error: ConnectionError
        if partialSince == nil {
            error = ConnectionError(.ok, "idle")
        } else if phase == .awaitingPreface {
            error = ConnectionError(.deadlineExceeded, "the preface did not arrive within \(waited) ms")
        } else {
            error = ConnectionError(.deadlineExceeded, "a frame was begun and not completed within \(waited) ms")
        }
        phase = .closed
        return .close(error, lastStream: lastStream)
    }

    mutating func receivedFrame(_ header: FrameHeader) -> FrameAction {
        partialSince = nil
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
    mutating func callFinished(stream: UInt32, now: NIODeadline = .now()) -> Bool {
        callsInFlight.remove(stream)
        // The connection is idle from the end of its last call, not from its last bytes.
        if callsInFlight.isEmpty { lastActivity = now }
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
