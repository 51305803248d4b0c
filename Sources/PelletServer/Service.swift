import NIOCore
import PelletWire
import Synchronization

/// One RPC method's implementation.
///
/// `handle` runs on the connection's event loop and must not block: pure work (Health, Route)
/// answers `.reply` at once; work that waits on the store writer or a provider answers
/// `.pending` with a future completed later (on any thread).
public protocol Service: Sendable {
    /// Whether the method can answer with a stream (MESSAGE frames, then END) when the REQUEST
    /// has the STREAM flag. Only Complete does; other methods always answer with one RESPONSE.
    var streams: Bool { get }
    func handle(_ payload: ByteBuffer, context: CallContext) -> CallOutcome
}

extension Service {
    public var streams: Bool { false }
}

public enum CallOutcome {
    case reply(any WireMessage)
    case failure(RPCError)
    case pending(EventLoopFuture<any WireMessage>)
}

/// What a service knows of the call it serves.
public struct CallContext: Sendable {
    public let method: Method
    public let stream: UInt32
    /// The caller asked for a streamed reply (MESSAGE frames, then END).
    public let isStreaming: Bool
    public let deadline: NIODeadline
    public let eventLoop: any EventLoop
    /// Set when the call ends early (CANCEL, deadline, disconnect); long work stops on it.
    public let cancellation: CallCancellation
    /// Set when the access log is on: what the service adds to the call's line.
    public let annotations: CallAnnotations?
    let streamWriter: StreamWriter?

    /// Sends one MESSAGE frame of a streamed reply. Callable from any thread; a no-op once the
    /// call has ended.
    public func sendMessage(_ message: some WireMessage) {
        streamWriter?.send(message, stream: stream)
    }

    /// Sends the MESSAGE frames written so far now. Without it they leave once the current
    /// event-loop task ends (one flush for all the messages of a task); a service calls this
    /// before work that the messages need not wait for, such as the metering commit that ends a
    /// Complete call. Callable from any thread; a no-op once the call has ended.
    public func flushMessages() {
        streamWriter?.flush(stream: stream)
    }

    /// Streamed replies: `body(false)` when the client stops taking its replies (the
    /// connection's unsent bytes passed its bound), `body(true)` once it has drained; at once
    /// with false if it is already behind. The call should then stop producing (pause its
    /// provider transfer). Call on the event loop, once; `body` runs there.
    public func onWritabilityChange(_ body: @escaping (Bool) -> Void) {
        streamWriter?.onWritabilityChange(body)
    }

    /// The call was answered: every handler the service gave the connection for it goes (its
    /// cancellation handlers and its writability handler). Each holds what the service keeps of
    /// the call (a Complete call's state, prompt included), which holds this context: kept past
    /// the answer, that cycle kept every finished call in memory for good. Call on the event loop.
    public func callEnded() {
        cancellation.callEnded()
        streamWriter?.callEnded()
    }
}

/// Cancellation of one call, observable from any thread.
public final class CallCancellation: Sendable {
    private struct State {
        var reason: RPCError?
        var handlers: [@Sendable (RPCError) -> Void] = []
    }

    private let state = Mutex(State())

    public init() {}

    public var isCancelled: Bool { state.withLock { $0.reason != nil } }

    /// Runs `handler` once when the call is cancelled (at once if it already was).
    public func onCancel(_ handler: @escaping @Sendable (RPCError) -> Void) {
        let reason: RPCError? = state.withLock { state in
            if state.reason == nil { state.handlers.append(handler) }
            return state.reason
        }
        if let reason { handler(reason) }
    }

    /// The call was answered: its handlers go. A handler holds what the service keeps of the
    /// call (a Complete call's state, prompt included), which holds this cancellation in its
    /// context: kept past the answer, that cycle kept every finished call alive for good
    /// (found by LeakSanitizer under `tools/test --sanitize`). A later cancel finds nothing to do.
    public func callEnded() {
        state.withLock { $0.handlers = [] }
    }

    func cancel(_ reason: RPCError) {
        let handlers: [@Sendable (RPCError) -> Void] = state.withLock { state in
            guard state.reason == nil else { return [] }
            state.reason = reason
            defer { state.handlers = [] }
            return state.handlers
        }
        for handler in handlers { handler(reason) }
    }
}

/// Decodes the request, runs a typed body, and turns a bad payload into INVALID_ARGUMENT.
public struct UnaryService<Request: WireMessage>: Service {
    private let body: @Sendable (Request, CallContext) -> CallOutcome

    public init(_ body: @escaping @Sendable (Request, CallContext) -> CallOutcome) {
        self.body = body
    }

    public func handle(_ payload: ByteBuffer, context: CallContext) -> CallOutcome {
        let request: Request
        do {
            request = try Request(decoding: payload)
        } catch {
            return .failure(RPCError(.invalidArgument, "\(context.method) request: \(error.description)"))
        }
        return body(request, context)
    }
}

/// Answers UNIMPLEMENTED: the honest reply of a method whose issue has not landed yet.
public struct UnimplementedService: Service {
    public init() {}

    public func handle(_ payload: ByteBuffer, context: CallContext) -> CallOutcome {
        .failure(RPCError(.unimplemented, "\(context.method) is not implemented by this server yet"))
    }
}
