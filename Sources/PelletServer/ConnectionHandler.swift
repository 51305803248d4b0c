import Logging
import NIOCore
import PelletWire

/// Serves one client connection on its event loop: applies the state machine's decisions,
/// dispatches calls to services, enforces deadlines and writes replies.
///
/// Everything here runs on the channel's event loop, so no call state needs a lock. Frames
/// written while a read burst is being processed are encoded one after another into one buffer,
/// written and flushed once at `channelReadComplete`: pipelined calls share one buffer and one
/// system call, not a buffer and a pipeline write each. Frames written outside a read (answers
/// completed by a provider, the store or a timer) gather the same way until a task queued for
/// the end of the current batch of event-loop tasks sends them.
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Settings {
        var defaultTimeout: TimeAmount
        /// The largest frame payload a client may send.
        var maxFrameBytes: Int
        var limits: ConnectionStateMachine.Limits
        /// After a GOAWAY, the longest wait for the client to take the bytes still unsent before
        /// the connection is closed anyway: a client that does not read must not keep it open.
        var closeGrace: TimeAmount = .seconds(5)
    }

    /// A call that was not answered synchronously: what is needed to end it early.
    private struct PendingCall {
        /// Which call this is: a stream id is free again once its call was answered (by a CANCEL
        /// or a deadline, while its work still runs), so the id alone cannot tell an old call's
        /// late completion or MESSAGE from those of the new call that reused the id.
        let serial: UInt64
        let cancellation: CallCancellation
        let deadlineTimer: Scheduled<Void>
        let endsWithEnd: Bool
        /// For the metrics and the access log.
        let method: Method
        let started: NIODeadline
        let annotations: CallAnnotations?
        /// Streamed calls: told when the client stops and starts reading again.
        let streamWriter: StreamWriter?
    }

    private var machine: ConnectionStateMachine
    private var frames: ConnectionFrameDecoder
    /// The client sent bytes that are not the protocol: the connection is failing, and nothing
    /// more it sends is read.
    private var decodingFailed = false
    private let services: ServiceTable
    private let settings: Settings
    private let metrics: ServerMetrics
    private let transport: ServerMetrics.Transport
    private let accessLog: AccessLog?
    private let logger: Logger
    private var pending: [UInt32: PendingCall] = [:]
    private var nextCallSerial: UInt64 = 0
    private var context: ChannelHandlerContext?
    private var readInProgress = false
    private var flushPending = false
    /// The frames not yet handed to the channel (nil: none yet): the current read burst's, or
    /// those written outside a read until the queued flush task runs.
    private var burst: ByteBuffer?
    /// The size of the last burst's frames: the next burst's buffer starts that large, so a
    /// steady pipelined load grows no buffer, and no buffer stays allocated between bursts
    /// (thousands of idle or streaming connections hold none).
    private var burstCapacity = 512
    /// A task is queued on the event loop to send the frames written outside a read.
    private var flushScheduled = false
    /// The one timer of the connection's timeouts (handshake, partial frame, idle), and when it
    /// fires. It is not moved when the deadline moves later: it checks again when it fires.
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?

    init(
        services: ServiceTable, settings: Settings, metrics: ServerMetrics, transport: ServerMetrics.Transport,
        accessLog: AccessLog?, logger: Logger
    ) {
        self.accessLog = accessLog
        self.services = services
        self.settings = settings
        self.metrics = metrics
        self.transport = transport
        self.logger = logger
        self.machine = ConnectionStateMachine(limits: settings.limits, now: .now())
        self.frames = ConnectionFrameDecoder(maxPayloadBytes: settings.maxFrameBytes)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        metrics.connectionOpened(transport)
        armTimer()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        burst = nil
        self.context = nil
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !decodingFailed else { return }
        readInProgress = true
        frames.append(unwrapInboundIn(data))
        do {
            while let item = try frames.next() {
                received(item, context: context)
            }
        } catch {
            decodingFailed = true
            machine.closed()
            failConnection(error, lastStream: machine.lastAcceptedStream, context: context)
            return
        }
        if frames.partialFrameStarted() {
            machine.partialFrameStarted(now: .now())
            armTimer()
        }
    }

    private func received(_ item: InboundFrame, context: ChannelHandlerContext) {
        switch item {
        case .preface:
            machine.receivedPreface()
            armTimer()
            write { $0.writeBytes(Preface.bytes) }
        case .frame(let frame):
            apply(machine.receivedFrame(frame.header), frame: frame, context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        readInProgress = false
        // Once per read rather than per frame: the idle timeout needs no finer clock.
        machine.receivedBytes(now: .now())
        flushNow()
    }

    /// Backpressure: a client that sends calls but does not read the replies stops being read
    /// from, and its streamed calls pause their provider transfers, so its unsent replies cannot
    /// grow without bound.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        context.channel.setOption(.autoRead, value: writable).whenFailure { _ in }
        machine.readsPaused(!writable, now: .now())
        armTimer()
        for call in pending.values {
            call.streamWriter?.writabilityChanged(writable)
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        machine.closed()
        timer?.cancel()
        timer = nil
        let reason = RPCError(.cancelled, "the client closed the connection")
        for (_, call) in pending {
            call.deadlineTimer.cancel()
            call.cancellation.cancel(reason)
            call.streamWriter?.callEnded()
            recordFinished(call.method, status: .cancelled, started: call.started, annotations: call.annotations)
        }
        pending.removeAll()
        metrics.connectionClosed(transport)
        context.fireChannelInactive()
    }

    private func apply(_ action: ConnectionStateMachine.FrameAction, frame: Frame, context: ChannelHandlerContext) {
        switch action {
        case .startCall(let stream, let method, let streaming, let timeoutMs):
            startCall(stream: stream, method: method, streaming: streaming, timeoutMs: timeoutMs, payload: frame.payload, context: context)
        case .rejectCall(let stream, let error):
            writeReply(stream: stream, endsWithEnd: false, result: .failure(error))
        case .cancelCall(let stream):
            endEarly(stream: stream, reason: RPCError(.cancelled, "the call was cancelled by the client"))
        case .sendPong:
            write { $0.writeFrame(FrameHeader(type: .pong, stream: 0), payload: frame.payload) }
        case .none:
            break
        case .connectionError(let error, let lastStream):
            failConnection(error, lastStream: lastStream, context: context)
        }
    }

    // MARK: Calls

    private func startCall(stream: UInt32, method: Method, streaming: Bool, timeoutMs: UInt32, payload: ByteBuffer, context: ChannelHandlerContext) {
        metrics.callStarted()
        let started = NIODeadline.now()
        let service = services[method]
        let endsWithEnd = streaming && service.streams
        let timeout = timeoutMs == 0 ? settings.defaultTimeout : .milliseconds(Int64(timeoutMs))
        let deadline = started + timeout
        let cancellation = CallCancellation()
        let annotations = accessLog == nil ? nil : CallAnnotations()
        let loop = context.eventLoop
        nextCallSerial += 1
        let serial = nextCallSerial
        let streamWriter = endsWithEnd ? StreamWriter(handler: NIOLoopBound(self, eventLoop: loop), serial: serial) : nil
        let callContext = CallContext(
            method: method,
            stream: stream,
            isStreaming: endsWithEnd,
            deadline: deadline,
            eventLoop: loop,
            cancellation: cancellation,
            annotations: annotations,
            streamWriter: streamWriter
        )

        switch service.handle(payload, context: callContext) {
        case .reply(let message):
            finish(
                stream: stream, method: method, started: started, annotations: annotations, endsWithEnd: endsWithEnd,
                result: .success(message))
        case .failure(let error):
            finish(
                stream: stream, method: method, started: started, annotations: annotations, endsWithEnd: endsWithEnd,
                result: .failure(error))
        case .pending(let future):
            let bound = NIOLoopBound(self, eventLoop: loop)
            let timer = loop.scheduleTask(deadline: deadline) {
                bound.value.endEarly(stream: stream, serial: serial, reason: RPCError(.deadlineExceeded, "the call did not finish within its \(timeout.prettyMilliseconds) deadline"))
            }
            pending[stream] = PendingCall(
                serial: serial, cancellation: cancellation, deadlineTimer: timer, endsWithEnd: endsWithEnd,
                method: method, started: started, annotations: annotations, streamWriter: streamWriter)
            future.hop(to: loop).whenComplete { result in
                bound.value.completePending(stream: stream, serial: serial, result: result)
            }
        }
    }

    /// Removes the pending call on `stream` if it is the call `serial` (nil: whichever it is).
    private func removePending(stream: UInt32, serial: UInt64?) -> PendingCall? {
        guard let call = pending[stream], serial == nil || call.serial == serial else { return nil }
        pending[stream] = nil
        call.streamWriter?.callEnded()
        return call
    }

    private func completePending(stream: UInt32, serial: UInt64, result: Result<any WireMessage, any Error>) {
        // Already answered by a deadline, a CANCEL or a disconnect (the id may even carry a new
        // call by now): the late result is dropped.
        guard let call = removePending(stream: stream, serial: serial) else { return }
        call.deadlineTimer.cancel()
        finish(
            stream: stream, method: call.method, started: call.started, annotations: call.annotations,
            endsWithEnd: call.endsWithEnd, result: result.mapError(rpcError))
    }

    /// Ends a pending call before its service answered (CANCEL, or the deadline of call `serial`).
    private func endEarly(stream: UInt32, serial: UInt64? = nil, reason: RPCError) {
        guard let call = removePending(stream: stream, serial: serial) else { return }
        call.deadlineTimer.cancel()
        call.cancellation.cancel(reason)
        finish(
            stream: stream, method: call.method, started: call.started, annotations: call.annotations,
            endsWithEnd: call.endsWithEnd, result: .failure(reason))
    }

    private func finish(
        stream: UInt32, method: Method, started: NIODeadline, annotations: CallAnnotations?, endsWithEnd: Bool,
        result: Result<any WireMessage, RPCError>
    ) {
        let status: Status
        switch result {
        case .success: status = .ok
        case .failure(let error): status = error.status
        }
        recordFinished(method, status: status, started: started, annotations: annotations)
        writeReply(stream: stream, endsWithEnd: endsWithEnd, result: result)
        if machine.callFinished(stream: stream, now: .now()) {
            closeAfterFlush()
        } else {
            armTimer()
        }
    }

    /// The metrics and the access log line of a call that ended.
    private func recordFinished(_ method: Method, status: Status, started: NIODeadline, annotations: CallAnnotations?) {
        let nanoseconds = (NIODeadline.now() - started).nanoseconds
        metrics.callFinished(method, status: status, nanoseconds: nanoseconds)
        guard let accessLog else { return }
        accessLog.append(
            AccessLog.Entry(
                unixMicroseconds: AccessLog.wallClockMicroseconds(), method: method,
                status: status, durationMicroseconds: UInt64(max(0, nanoseconds) / 1_000),
                annotations: annotations?.snapshot))
    }

    private func rpcError(_ error: any Error) -> RPCError {
        if let error = error as? RPCError { return error }
        logger.error("call failed with an unexpected error", metadata: ["error": "\(error)"])
        return RPCError(.internal, "internal error; the server log has the details")
    }

    /// A streamed reply's MESSAGE frame, written only while call `serial` is still pending.
    /// One write and flush carries all the frames of one provider read (one SSE chunk often
    /// holds several events) and whatever else is answered meanwhile (see `write(_:)`).
    func sendStreamMessage(_ message: some WireMessage, stream: UInt32, serial: UInt64) {
        guard pending[stream]?.serial == serial else { return }
        write { $0.writeFrame(FrameHeader(type: .message, stream: stream), message: message) }
    }

    /// Hands the MESSAGE frames written so far to the socket now, rather than when the current
    /// task ends (see `CallContext.flushMessages()`). During a read of this connection the read's
    /// end flushes them anyway.
    func flushStreamMessages(stream: UInt32, serial: UInt64) {
        guard pending[stream]?.serial == serial, !readInProgress else { return }
        flushNow()
    }

    /// Whether the client takes its replies as fast as they come (see `channelWritabilityChanged`).
    var isWritable: Bool { context?.channel.isWritable ?? true }

    // MARK: Timeouts

    /// Makes sure a timer fires no later than the machine's next deadline.
    private func armTimer() {
        guard let context, let deadline = machine.nextDeadline else { return }
        if let timerDeadline, timerDeadline <= deadline { return }
        timer?.cancel()
        timerDeadline = deadline
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timer = nil
            timerDeadline = nil
            timerFired()
        }
    }

    private func timerFired() {
        guard let context else { return }
        switch machine.timerFired(now: .now()) {
        case .none:
            armTimer()
        case .close(let error, let lastStream):
            logger.debug("closing connection", metadata: ["reason": "\(error)"])
            writeGoAway(RPCError(error.status, error.message), lastStream: lastStream, context: context)
            flushNow()
            context.close(promise: nil)
        }
    }

    // MARK: Shutdown

    /// Graceful shutdown of this connection: GOAWAY now, close when the calls in flight end.
    func beginGracefulShutdown() {
        guard let context else { return }
        switch machine.beginGracefulShutdown() {
        case .sendGoAway(let lastStream, let closeNow):
            writeGoAway(RPCError(.unavailable, "the server is shutting down"), lastStream: lastStream, context: context)
            if closeNow { closeAfterFlush() }
        case .none:
            break
        }
    }

    private func failConnection(_ error: ConnectionError, lastStream: UInt32, context: ChannelHandlerContext) {
        logger.debug("closing connection after a protocol error", metadata: ["error": "\(error)"])
        writeGoAway(RPCError(error.status, error.message), lastStream: lastStream, context: context)
        closeAfterFlush()
    }

    // MARK: Writing

    private func writeReply(stream: UInt32, endsWithEnd: Bool, result: Result<any WireMessage, RPCError>) {
        let type: FrameType = endsWithEnd ? .end : .response
        write { buffer in
            switch result {
            case .success(let message):
                buffer.writeFrame(FrameHeader(type: type, stream: stream, value: Status.ok.rawValue), message: message)
            case .failure(let error):
                buffer.writeFrame(FrameHeader(type: type, stream: stream, value: error.status.rawValue), message: error.payload)
            }
        }
    }

    private func writeGoAway(_ error: RPCError, lastStream: UInt32, context: ChannelHandlerContext) {
        write { $0.writeFrame(FrameHeader(type: .goAway, stream: 0, value: lastStream), message: error.payload) }
    }

    /// Encodes a frame with `encode` at the end of the frames not yet handed to the channel. During
    /// a read burst the burst's end sends them (`channelReadComplete`); otherwise a task queued on
    /// the event loop does, after the tasks already queued: the answers that one provider
    /// hand-over (or one timer, one store commit) completes leave in one write and one flush,
    /// one system call and one wake-up of the client instead of one each.
    private func write(_ encode: (inout ByteBuffer) -> Void) {
        guard let context else { return }
        if burst == nil { burst = context.channel.allocator.buffer(capacity: burstCapacity) }
        encode(&burst!)
        if !readInProgress, !flushScheduled {
            flushScheduled = true
            // Queued from the loop itself: no wake-up, and it runs in this same loop tick.
            context.eventLoop.assumeIsolated().execute { [self] in
                flushScheduled = false
                flushNow()
            }
        }
    }

    /// Writes and flushes the frames not yet handed to the channel.
    private func flushNow() {
        guard let context else { return }
        writeBurst()
        if flushPending {
            flushPending = false
            context.flush()
        }
    }

    /// Hands the burst's frames to the channel as one buffer (flushed by the caller).
    private func writeBurst() {
        guard let context, let buffer = burst else { return }
        burst = nil
        burstCapacity = min(max(buffer.readableBytes, 512), 64 << 10)
        context.write(wrapOutboundOut(buffer), promise: nil)
        flushPending = true
    }

    private func closeAfterFlush() {
        guard let context else { return }
        writeBurst()
        flushPending = false
        // Close only once everything written so far (replies, GOAWAY) has reached the socket.
        let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        let forced = context.eventLoop.scheduleTask(in: settings.closeGrace) {
            boundContext.value.close(promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            forced.cancel()
            boundContext.value.close(promise: nil)
        }
    }
}

/// Lets a service send MESSAGE frames from any thread: each send hops to the connection's loop.
final class StreamWriter: Sendable {
    private let handler: NIOLoopBound<ConnectionHandler>
    /// The call's serial on its connection: its frames never reach a later call on the same id.
    private let serial: UInt64

    init(handler: NIOLoopBound<ConnectionHandler>, serial: UInt64) {
        self.handler = handler
        self.serial = serial
        self.writabilityHandler = NIOLoopBoundBox(nil, eventLoop: handler.eventLoop)
    }

    /// Runs on the event loop; at once with false if the client is already not reading.
    func onWritabilityChange(_ body: @escaping (Bool) -> Void) {
        writabilityHandler.value = body
        if !handler.value.isWritable { body(false) }
    }

    func writabilityChanged(_ writable: Bool) {
        writabilityHandler.value?(writable)
    }

    /// The call was answered or ended early: its handler goes. The handler holds the service's
    /// call, which holds this writer in its context; kept past the answer, that cycle kept every
    /// streamed Complete call in memory for good. Runs on the event loop.
    func callEnded() {
        writabilityHandler.value = nil
    }

    /// Set by the service (`CallContext.onWritabilityChange`) on the event loop.
    private let writabilityHandler: NIOLoopBoundBox<((Bool) -> Void)?>

    func flush(stream: UInt32) {
        let handler = self.handler
        let serial = self.serial
        if handler.eventLoop.inEventLoop {
            handler.value.flushStreamMessages(stream: stream, serial: serial)
        } else {
            handler.eventLoop.execute { handler.value.flushStreamMessages(stream: stream, serial: serial) }
        }
    }

    func send(_ message: some WireMessage, stream: UInt32) {
        let handler = self.handler
        let serial = self.serial
        if handler.eventLoop.inEventLoop {
            handler.value.sendStreamMessage(message, stream: stream, serial: serial)
        } else {
            handler.eventLoop.execute { handler.value.sendStreamMessage(message, stream: stream, serial: serial) }
        }
    }
}

extension TimeAmount {
    var prettyMilliseconds: String { "\(nanoseconds / 1_000_000) ms" }
}
