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
/// it, on that loop. Its events go to the caller through `inbox`, the one part both sides share.
final class ClientCall {
    enum Phase {
        /// Not sent yet: a call is sent when its caller first waits for an event.
        case idle
        case active(stream: UInt32)
        /// Ended: an END/RESPONSE arrived, or it failed, was cancelled or timed out. What is left
        /// in the inbox is still handed out.
        case finished
    }

    let request: OutboundRequest
    let inbox: CallInbox
    private(set) var phase: Phase = .idle
    /// The local timer (timeout + 1 s), armed while the call is active.
    var deadline: Scheduled<Void>?

    init(request: OutboundRequest, inbox: CallInbox) {
        self.request = request
        self.inbox = inbox
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
        inbox.deliver(event)
    }

    /// The OK END or RESPONSE.
    func succeed(with final: StreamEvent) {
        guard !isFinished else { return }
        end()
        inbox.succeed(with: final)
    }

    /// Ends the call with `error`; see `CallInbox.fail(_:discardingBuffered:)`.
    func fail(_ error: RPCError, discardingBuffered: Bool) {
        guard !isFinished else { return }
        end()
        inbox.fail(error, discardingBuffered: discardingBuffered)
    }

    private func end() {
        phase = .finished
        deadline?.cancel()
        deadline = nil
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
