import NIOCore

extension ProviderEngine {
    /// Starts a chat completion and delivers its events on `eventLoop`, where it must be called.
    ///
    /// The provider thread only copies bytes and hops them to `eventLoop`; SSE and JSON decoding
    /// (``ChatResponseDecoder``) run there, so the single provider thread does I/O alone and the
    /// decoding spreads over the event loops. `onEvent` receives deltas (streams only) and then
    /// exactly one terminal event, `.completed` or `.failed`, also after ``TransferHandle/cancel()``
    /// (as `.failed` of kind `cancelled`). A malformed chunk cancels the transfer by itself.
    ///
    /// The bytes hopped to `eventLoop` and not yet decoded are bounded by `handOffLimit`: past
    /// it the transfer pauses until the loop catches up (see `unconsumedBodyLimit` in
    /// ``start(_:handler:unconsumedBodyLimit:)``), so a stream faster than its loop does not
    /// pile up in the loop's task queue. This is independent of ``TransferHandle/setPaused(_:)``.
    ///
    /// - Parameters:
    ///   - timeout: the call's remaining deadline.
    ///   - firstTokenTimeout, idleTimeout: for streams (see ``HTTPRequest``).
    ///   - accumulatesStreamContent: collect a stream's text into the completion too.
    ///   - handOffLimit: body bytes in flight from the provider thread to `eventLoop`.
    @discardableResult
    public func startChat(
        _ chat: ChatRequest,
        provider: ProviderConfiguration,
        timeout: Duration,
        firstTokenTimeout: Duration? = nil,
        idleTimeout: Duration? = nil,
        accumulatesStreamContent: Bool = false,
        handOffLimit: Int = ProviderEngine.defaultChatHandOffLimit,
        on eventLoop: any EventLoop,
        onEvent: @escaping (ChatResponseDecoder.Event) -> Void
    ) -> TransferHandle {
        let request = OpenAIChat.httpRequest(
            for: chat, provider: provider, timeout: timeout, firstTokenTimeout: firstTokenTimeout,
            idleTimeout: idleTimeout)
        let call = ChatCall(
            decoder: ChatResponseDecoder(stream: chat.stream, accumulatesStreamContent: accumulatesStreamContent),
            onEvent: onEvent)
        let bound = NIOLoopBound(call, eventLoop: eventLoop)
        let handle = start(
            request,
            handler: EventLoopChatHandler(
                eventLoop: eventLoop, call: bound, holdsBody: !chat.stream,
                holdLimit: min(handOffLimit / 2, EventLoopChatHandler.defaultHoldLimit)),
            unconsumedBodyLimit: handOffLimit)
        // Events hop to this loop behind the current task, so they all see the handle.
        call.handle = handle
        return handle
    }

    /// A few hundred SSE events: enough that the provider thread rarely waits for a loop that
    /// keeps up, small next to a connection's own bound on unsent replies.
    public static let defaultChatHandOffLimit = 256 << 10
}

/// A chat call's state on its event loop.
private final class ChatCall {
    var decoder: ChatResponseDecoder
    let onEvent: (ChatResponseDecoder.Event) -> Void
    var handle: TransferHandle?
    var transferFinished = false

    init(decoder: ChatResponseDecoder, onEvent: @escaping (ChatResponseDecoder.Event) -> Void) {
        self.decoder = decoder
        self.onEvent = onEvent
    }

    /// What the provider thread held back and hands over in one hop.
    func received(status: (Int, HTTPHeaders)?, body: [UInt8], result: TransferResult?) {
        if let (code, headers) = status {
            decoder.receivedStatus(code, headers: headers)
        }
        if !body.isEmpty {
            receivedBody(body)
        }
        if let result {
            finished(result)
        }
    }

    func receivedBody(_ bytes: [UInt8]) {
        var failed = false
        let onEvent = onEvent
        decoder.receivedBody(bytes) { event in
            if case .failed = event { failed = true }
            onEvent(event)
        }
        // Decoded and passed on: the provider thread may hand over more.
        handle?.consumed(bytes.count)
        // A malformed chunk: the rest of the transfer is of no use. (After `[DONE]` the transfer
        // is left to end by itself, so that its connection stays reusable.)
        if failed, !transferFinished {
            handle?.cancel()
        }
    }

    func finished(_ result: TransferResult) {
        transferFinished = true
        decoder.finished(result, emit: onEvent)
        handle = nil
    }
}

/// Copies what the provider thread receives and hops it to the call's event loop, in as few
/// hops as it can: each hop is a task for the loop and, when the loop is idle, a wake-up (tens of
/// microseconds on a busy machine). The status waits for the first body bytes or the end; a
/// unary answer's body waits for the end (or ``holdLimit`` bytes), so a whole answer crosses in
/// one hop instead of three. A stream's body bytes cross as they come: they are its latency.
///
/// `@unchecked Sendable` because its mutable state is only touched on the provider thread, which
/// calls every method of a handler in order (``TransferHandler``).
private final class EventLoopChatHandler: TransferHandler, @unchecked Sendable {
    /// Far below the hand-off limit, so the held bytes never pause the transfer for want of a
    /// consumer that has not seen them yet.
    static let defaultHoldLimit = 64 << 10

    private let eventLoop: any EventLoop
    private let call: NIOLoopBound<ChatCall>
    private let holdsBody: Bool
    private let holdLimit: Int
    private var status: (Int, HTTPHeaders)?
    private var body: [UInt8] = []

    init(eventLoop: any EventLoop, call: NIOLoopBound<ChatCall>, holdsBody: Bool, holdLimit: Int) {
        self.eventLoop = eventLoop
        self.call = call
        self.holdsBody = holdsBody
        self.holdLimit = max(1, holdLimit)
    }

    func receivedStatus(_ status: Int, headers: HTTPHeaders) {
        self.status = (status, headers)
    }

    func receivedBody(_ bytes: UnsafeRawBufferPointer) {
        body.append(contentsOf: bytes)
        if !holdsBody || body.count >= holdLimit {
            handOver(result: nil)
        }
    }

    func finished(_ result: TransferResult) {
        handOver(result: result)
    }

    private func handOver(result: TransferResult?) {
        let status = self.status
        let body = self.body
        self.status = nil
        self.body = []
        eventLoop.execute { [call] in call.value.received(status: status, body: body, result: result) }
    }
}
