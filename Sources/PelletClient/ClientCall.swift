import NIOCore
import PelletWire

/// A REQUEST frame ready to go, built on the caller's thread so that encoding stays off the
/// event loop. Its stream field is 0 until the connection assigns the stream id.
struct OutboundRequest: Sendable {
    /// Header and payload, contiguous: one write, no copy on the event loop.
    var frame: ByteBuffer
    /// The caller's deadline for the whole call; nil = the server's default and no local timer.
    var timeout: Duration?
    /// "Health", or "method 42" for a raw call: for error messages.
    var methodName: String
    /// Notes when the first MESSAGE arrived (load tests); nil: not noted.
    var arrival: StreamArrival?

    /// Offset of the 4-byte stream id in the frame header.
    static let streamFieldOffset = 8

    init(method: UInt16, flags: UInt8, timeout: Duration?, message: some WireMessage) {
        var frame = ByteBufferAllocator().buffer(capacity: 256)
        frame.writeFrame(Self.header(method: method, flags: flags, timeout: timeout), message: message)
        self.init(frame: frame, method: method, timeout: timeout)
    }

    init(method: UInt16, flags: UInt8, timeout: Duration?, payload: ByteBuffer) {
        var frame = ByteBufferAllocator().buffer(capacity: FrameHeader.size + payload.readableBytes)
        frame.writeFrame(Self.header(method: method, flags: flags, timeout: timeout), payload: payload)
        self.init(frame: frame, method: method, timeout: timeout)
    }

    private init(frame: ByteBuffer, method: UInt16, timeout: Duration?) {
        self.frame = frame
        self.timeout = timeout
        self.methodName = PelletWire.Method(rawValue: method)?.description ?? "method \(method)"
    }

    private static func header(method: UInt16, flags: UInt8, timeout: Duration?) -> FrameHeader {
        FrameHeader(type: .request, flags: flags, method: method, stream: 0, value: timeout?.wireMilliseconds ?? 0)
    }
}

/// One call's progress, as the connection sees it.
///
/// Not Sendable: it is created on the caller's thread only to be sent to the event loop
/// (`NIOLoopBoundBox.makeBoxSendingValue`), and from then on only `ClientConnectionHandler` touches
/// it, on that loop. Events that arrive before the caller asks for them are buffered (the protocol
/// has no flow control; Complete streams are small).
final class ClientCall {
    enum Phase {
        /// Not sent yet: a call is sent when its caller first waits for an event.
        case idle
        case active(stream: UInt32)
        /// Ended: an END/RESPONSE arrived, or it failed, was cancelled or timed out. What is left
        /// in `outcomes` is still handed out.
        case finished
    }

    typealias Waiter = CheckedContinuation<Result<StreamEvent?, RPCError>, Never>

    let request: OutboundRequest
    private(set) var phase: Phase = .idle
    /// The local timer (timeout + 1 s), armed while the call is active.
    var deadline: Scheduled<Void>?
    private var outcomes = CircularBuffer<Result<StreamEvent, RPCError>>()
    private var waiter: Waiter?

    init(request: OutboundRequest) {
        self.request = request
    }

    var isFinished: Bool {
        if case .finished = phase { return true }
        return false
    }

    func activate(stream: UInt32) {
        phase = .active(stream: stream)
    }

    /// A MESSAGE frame.
    func receive(_ event: StreamEvent) {
        guard !isFinished else { return }
        request.arrival?.messageArrived()
        deliver(.success(event))
    }

    /// The OK END or RESPONSE.
    func succeed(with final: StreamEvent) {
        guard !isFinished else { return }
        end()
        deliver(.success(final))
    }

    /// Ends the call with `error`. `discardingBuffered` drops the events not yet handed out: the
    /// caller gave up (cancelled, timed out) and wants the error now, not after stale chunks.
    func fail(_ error: RPCError, discardingBuffered: Bool) {
        guard !isFinished else { return }
        end()
        if discardingBuffered { outcomes.removeAll() }
        deliver(.failure(error))
    }

    /// Hands out the next event now if there is one (or the end), else parks `waiter`.
    func awaitNext(_ waiter: Waiter) {
        if let outcome = outcomes.popFirst() {
            waiter.resume(returning: outcome.map { Optional($0) })
        } else if isFinished {
            waiter.resume(returning: .success(nil))
        } else if self.waiter != nil {
            waiter.resume(
                returning: .failure(
                    RPCError(
                        .failedPrecondition,
                        "next() was called on a response stream while another call to next() on it was still waiting"
                    )
                )
            )
        } else {
            self.waiter = waiter
        }
    }

    private func end() {
        phase = .finished
        deadline?.cancel()
        deadline = nil
    }

    private func deliver(_ outcome: Result<StreamEvent, RPCError>) {
        if let waiter {
            self.waiter = nil
            waiter.resume(returning: outcome.map { Optional($0) })
        } else {
            outcomes.append(outcome)
        }
    }
}

/// A PING waiting for its PONG. Loop-confined like `ClientCall`.
///
/// Pings are answered in order, so the connection keeps them in a FIFO; one that was cancelled or
/// timed out stays there as a tombstone until its PONG arrives, so that later PONGs still match.
final class PendingPing {
    typealias Waiter = CheckedContinuation<Result<Duration, RPCError>, Never>

    let payload: ByteBuffer
    let timeout: Duration?
    var sentAt: NIODeadline?
    var timer: Scheduled<Void>?
    private var result: Result<Duration, RPCError>?
    private var waiter: Waiter?

    init(payload: ByteBuffer, timeout: Duration?) {
        self.payload = payload
        self.timeout = timeout
    }

    var isCompleted: Bool { result != nil }

    /// Parks `waiter`, or resumes it at once when the ping already ended (cancelled before it was
    /// sent). Returns false in that case.
    func register(_ waiter: Waiter) -> Bool {
        if let result {
            waiter.resume(returning: result)
            return false
        }
        self.waiter = waiter
        return true
    }

    func complete(_ result: Result<Duration, RPCError>) {
        guard self.result == nil else { return }
        self.result = result
        timer?.cancel()
        timer = nil
        if let waiter {
            self.waiter = nil
            waiter.resume(returning: result)
        }
    }
}
