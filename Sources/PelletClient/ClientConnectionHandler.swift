import NIOCore
import NIOSSL
import PelletWire

/// The client end of one Pellet connection: sends the preface, multiplexes calls by stream id,
/// matches PINGs with PONGs and follows GOAWAY and close.
///
/// All of its state lives on the channel's event loop; callers reach it by hopping there
/// (`NIOLoopBound`). The one exception is each call's `CallInbox`, which the caller's task reads
/// under its lock, so that an event already received reaches the caller without a hop.
final class ClientConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = InboundFrame
    typealias OutboundOut = ByteBuffer

    private enum State {
        case awaitingPreface
        case ready
        /// The server takes no new calls; those up to `lastStream` may still finish.
        case goingAway(lastStream: UInt32, reason: RPCError)
        /// Every later call fails with this error.
        case closed(RPCError)
    }

    let address: PelletAddress
    private let handshakeTimeout: Duration
    private let handshakePromise: EventLoopPromise<Void>
    private var handshakeTimer: Scheduled<Void>?
    private var state = State.awaitingPreface
    private var context: ChannelHandlerContext?
    private var isPrefaceSent = false

    private var calls: [UInt32: ClientCall] = [:]
    /// Streams this side cancelled whose final RESPONSE/END has not come yet: still in flight for
    /// the server, so their ids are not reused and their late answer is dropped quietly.
    private var cancelledStreams: Set<UInt32> = []
    private var lastStream: UInt32 = 0
    private var pings = CircularBuffer<PendingPing>()
    private var isFlushScheduled = false

    init(address: PelletAddress, handshakeTimeout: Duration, eventLoop: any EventLoop) {
        self.address = address
        self.handshakeTimeout = handshakeTimeout
        self.handshakePromise = eventLoop.makePromise()
    }

    /// Succeeds when the server's preface arrives; fails with the server's GOAWAY reason, a
    /// protocol error, a timeout or the connection closing.
    var handshakeFuture: EventLoopFuture<Void> { handshakePromise.futureResult }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { sendPreface(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        shutDown(closedError)
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        sendPreface(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        shutDown(closedError)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let failure: RPCError
        switch error {
        case let violation as ConnectionError:
            if case .awaitingPreface = state {
                failure = RPCError(
                    violation.status,
                    "\(address) did not answer with the Pellet preface: \(violation.message)"
                )
            } else {
                failure = protocolError(violation.message, status: violation.status)
            }
        case let error where ClientTLSOptions.isTLSError(error):
            failure = RPCError(.unavailable, ClientTLSOptions.describe(error, address: address))
        case ByteToMessageDecoderError.leftoverDataWhenDone:
            failure = RPCError(.unavailable, "connection to \(address) closed in the middle of a frame")
        default:
            failure = RPCError(.unavailable, "connection to \(address) failed: \(PelletClient.describe(error))")
        }
        shutDown(failure)
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .preface:
            guard case .awaitingPreface = state else { return }
            state = .ready
            handshakeTimer?.cancel()
            handshakeTimer = nil
            handshakePromise.succeed()
        case .frame(let frame):
            receive(frame, context: context)
        }
    }

    private func receive(_ frame: Frame, context: ChannelHandlerContext) {
        let header = frame.header
        if case .awaitingPreface = state, header.type != .goAway {
            fail(
                protocolError("it answered the preface with a \(header.type) frame instead of its own preface"),
                context: context
            )
            return
        }
        switch header.type {
        case .response, .end:
            finishCall(stream: header.stream, status: header.value, payload: frame.payload)
        case .message:
            calls[header.stream]?.receive(.message(frame.payload))
        case .ping:
            writeFrame(FrameHeader(type: .pong, stream: 0), payload: frame.payload)
        case .pong:
            receivePong(frame.payload)
        case .goAway:
            receiveGoAway(lastStream: header.value, payload: frame.payload, context: context)
        case .request, .cancel:
            fail(protocolError("it sent a \(header.type) frame, which only clients send"), context: context)
        }
    }

    private func finishCall(stream: UInt32, status: UInt32, payload: ByteBuffer) {
        guard let call = calls.removeValue(forKey: stream) else {
            // An answer to a call this side cancelled, or to no call at all: nobody waits for it.
            cancelledStreams.remove(stream)
            return
        }
        if status == Status.ok.rawValue {
            call.succeed(with: .end(payload))
        } else {
            call.fail(Self.callError(status: status, payload: payload), discardingBuffered: false)
        }
    }

    private func receivePong(_ payload: ByteBuffer) {
        guard let ping = pings.popFirst() else { return }
        guard !ping.isCompleted else { return }  // a tombstone: its caller gave up
        guard payload == ping.payload else {
            ping.complete(.failure(RPCError(.dataLoss, "the PONG from \(address) did not echo the PING's payload")))
            return
        }
        let elapsed = NIODeadline.now() - (ping.sentAt ?? .now())
        ping.complete(.success(Duration(elapsed)))
    }

    private func receiveGoAway(lastStream: UInt32, payload: ByteBuffer, context: ChannelHandlerContext) {
        let reason = Self.goAwayReason(payload: payload)
        if case .awaitingPreface = state {
            fail(reason, context: context)
            return
        }
        if case .closed = state { return }
        state = .goingAway(lastStream: lastStream, reason: reason)
        // Calls past `lastStream` were never accepted and will get no answer.
        for stream in calls.keys where stream > lastStream {
            calls.removeValue(forKey: stream)?.fail(reason, discardingBuffered: false)
        }
        cancelledStreams = cancelledStreams.filter { $0 <= lastStream }
    }

    // MARK: Calls (entered by hopping onto the event loop)

    /// Sends `call`: its caller waits for its first event. Not when the caller has already given
    /// up (its task was cancelled, which fails the inbox at once; the abort follows).
    func start(_ call: ClientCall) {
        guard case .idle = call.phase, !call.inbox.isFinished else { return }
        send(call)
    }

    /// Stops `call` from this side: caller cancelled, local deadline passed, stream dropped.
    /// The server is told with CANCEL; its late answer is dropped.
    func abort(_ call: ClientCall, with error: RPCError) {
        guard case .active(let stream) = call.phase else {
            call.fail(error, discardingBuffered: true)
            return
        }
        if calls.removeValue(forKey: stream) != nil, isOpen {
            cancelledStreams.insert(stream)
            writeFrame(FrameHeader(type: .cancel, stream: stream), payload: nil)
        }
        call.fail(error, discardingBuffered: true)
    }

    private func send(_ call: ClientCall) {
        if let refusal = refusalForNewCall() {
            call.fail(refusal, discardingBuffered: true)
            return
        }
        guard let context else {
            call.fail(RPCError(.unavailable, "connection to \(address) closed"), discardingBuffered: true)
            return
        }
        if let timeout = call.request.timeout, timeout <= .zero {
            call.fail(
                RPCError(.deadlineExceeded, "the \(call.request.methodName) call's timeout had passed before it was sent"),
                discardingBuffered: true
            )
            return
        }
        let stream = allocateStream()
        var frame = call.request.frame
        frame.setInteger(stream, at: frame.readerIndex + OutboundRequest.streamFieldOffset, endianness: .big)
        calls[stream] = call
        call.activate(stream: stream)
        if let timeout = call.request.timeout {
            // The server enforces `timeout`; this timer only guards against a server that is
            // gone without closing the connection, so it waits a second longer.
            let message =
                "no answer from \(address) to the \(call.request.methodName) call within its timeout of "
                + timeout.millisecondsDescription
            call.deadline = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout + .seconds(1))) {
                [weak self, weak call] in
                guard let self, let call else { return }
                self.abort(call, with: RPCError(.deadlineExceeded, message))
            }
        }
        write(frame)
    }

    /// The next id after the last one, skipping 0 and ids still in flight (after wrapping).
    private func allocateStream() -> UInt32 {
        repeat {
            lastStream &+= 1
        } while lastStream == 0 || calls[lastStream] != nil || cancelledStreams.contains(lastStream)
        return lastStream
    }

    private func refusalForNewCall() -> RPCError? {
        switch state {
        case .ready:
            nil
        case .awaitingPreface:
            RPCError(.unavailable, "the connection to \(address) is not ready yet")
        case .goingAway(_, let reason):
            RPCError(.unavailable, "the server is going away: \(reason.message)")
        case .closed(let error):
            error
        }
    }

    private var isOpen: Bool {
        if case .closed = state { return false }
        return true
    }

    // MARK: Pings

    func ping(_ ping: PendingPing, waiter: PendingPing.Waiter) {
        guard ping.register(waiter) else { return }
        switch state {
        case .ready, .goingAway:
            break
        case .awaitingPreface, .closed:
            ping.complete(.failure(refusalForNewCall() ?? RPCError(.unavailable, "connection to \(address) closed")))
            return
        }
        guard let context else {
            ping.complete(.failure(RPCError(.unavailable, "connection to \(address) closed")))
            return
        }
        pings.append(ping)
        ping.sentAt = .now()
        writeFrame(FrameHeader(type: .ping, stream: 0), payload: ping.payload)
        if let timeout = ping.timeout {
            let message = "no PONG from \(address) within \(timeout.millisecondsDescription)"
            ping.timer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) { [weak ping] in
                ping?.complete(.failure(RPCError(.deadlineExceeded, message)))
            }
        }
    }

    func cancelPing(_ ping: PendingPing) {
        ping.complete(.failure(RPCError(.cancelled, "the ping was cancelled by the caller")))
    }

    // MARK: Connection lifetime

    private func sendPreface(context: ChannelHandlerContext) {
        guard !isPrefaceSent else { return }
        isPrefaceSent = true
        write(ByteBuffer(bytes: Preface.bytes))
        let message = "\(address) did not answer the Pellet preface within \(handshakeTimeout.millisecondsDescription)"
        handshakeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(handshakeTimeout)) {
            [weak self] in
            guard let self, case .awaitingPreface = self.state, let context = self.context else { return }
            self.fail(RPCError(.unavailable, message), context: context)
        }
    }

    /// Ends the connection from this side with `error`.
    private func fail(_ error: RPCError, context: ChannelHandlerContext) {
        shutDown(error)
        context.close(promise: nil)
    }

    /// Fails the handshake, every call and every ping with `error`; later calls fail with it too.
    private func shutDown(_ error: RPCError) {
        let wasAwaitingPreface: Bool
        switch state {
        case .closed:
            return
        case .awaitingPreface:
            wasAwaitingPreface = true
        case .ready, .goingAway:
            wasAwaitingPreface = false
        }
        state = .closed(error)
        handshakeTimer?.cancel()
        handshakeTimer = nil
        if wasAwaitingPreface { handshakePromise.fail(error) }

        let failedCalls = calls
        calls.removeAll()
        cancelledStreams.removeAll()
        for call in failedCalls.values { call.fail(error, discardingBuffered: false) }

        let failedPings = pings
        pings.removeAll()
        for ping in failedPings { ping.complete(.failure(error)) }
    }

    /// What calls still in flight get when the connection closes under them.
    private var closedError: RPCError {
        guard case .goingAway(_, let reason) = state else {
            return RPCError(.unavailable, "connection to \(address) closed")
        }
        // After a GOAWAY for a connection error the server drops calls unanswered; say why.
        return RPCError(.unavailable, "connection to \(address) closed after the server's GOAWAY (\(reason))")
    }

    private func protocolError(_ detail: String, status: Status = .internal) -> RPCError {
        RPCError(status, "the server at \(address) broke the protocol: \(detail); the connection was closed")
    }

    // MARK: Writing

    private func writeFrame(_ header: FrameHeader, payload: ByteBuffer?) {
        guard let context else { return }
        let payloadBytes = payload?.readableBytes ?? 0
        var buffer = context.channel.allocator.buffer(capacity: FrameHeader.size + payloadBytes)
        buffer.writeFrame(header, payload: payload ?? ByteBuffer())
        write(buffer)
    }

    /// Writes now and flushes once at the end of the current event-loop tick, so that many
    /// calls started together leave in one system call.
    private func write(_ buffer: ByteBuffer) {
        guard let context else { return }
        context.write(wrapOutboundOut(buffer), promise: nil)
        guard !isFlushScheduled else { return }
        isFlushScheduled = true
        context.eventLoop.assumeIsolated().execute { [self] in
            isFlushScheduled = false
            self.context?.flush()
        }
    }

    // MARK: Error payloads

    private static func callError(status: UInt32, payload: ByteBuffer) -> RPCError {
        let statusName = Status(wireValue: status).name
        do {
            var error = RPCError(payload: try ErrorPayload(decoding: payload), frameStatus: status)
            if error.message.isEmpty { error.message = "the server answered \(statusName) without a message" }
            return error
        } catch {
            return RPCError(
                Status(wireValue: status),
                "the server answered \(statusName) with an Error payload that does not decode (\(error.description))"
            )
        }
    }

    private static func goAwayReason(payload: ByteBuffer) -> RPCError {
        guard let error = try? ErrorPayload(decoding: payload) else {
            return RPCError(.unavailable, "the server sent GOAWAY with an Error payload that does not decode")
        }
        var status = Status(wireValue: error.code)
        // A GOAWAY always refuses something; "OK" would read as success to the caller.
        if status == .ok { status = .unavailable }
        let message = error.message.isEmpty ? "the server sent GOAWAY without a reason" : error.message
        return RPCError(status, message, retryAfterMs: error.retryAfterMs)
    }
}
