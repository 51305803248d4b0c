import NIOCore
import PelletWire

/// One item of a streamed reply.
public enum StreamEvent: Sendable, Equatable {
    /// A MESSAGE frame's payload (for Complete, a `CompleteChunk`).
    case message(ByteBuffer)
    /// The payload of the OK END that closes the stream (for Complete, a `CompleteResponse`).
    case end(ByteBuffer)
}

/// The frames of a streamed call: MESSAGE payloads, then the OK END's payload. An END or RESPONSE
/// with another status is thrown as its `RPCError`.
///
/// The call is sent when iteration starts, and each iteration makes its own call. Leaving the loop
/// early (or dropping the iterator) or cancelling the task sends CANCEL to the server.
public struct ResponseStream: AsyncSequence, Sendable {
    public typealias Element = StreamEvent
    public typealias Failure = RPCError

    private let client: PelletClient
    private let request: OutboundRequest

    init(client: PelletClient, request: OutboundRequest) {
        self.client = client
        self.request = request
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(lifetime: CallLifetime(call: client.makeCall(request)))
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Element = StreamEvent
        public typealias Failure = RPCError

        private let lifetime: CallLifetime

        init(lifetime: CallLifetime) {
            self.lifetime = lifetime
        }

        @available(macOS 15.0, iOS 18.0, tvOS 18.0, watchOS 11.0, visionOS 2.0, *)
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(RPCError) -> StreamEvent? {
            try await lifetime.next(isolation: actor)
        }

        public mutating func next() async throws(RPCError) -> StreamEvent? {
            try await lifetime.next(isolation: nil)
        }

        /// Ends the call now with CANCEL, as leaving the loop would.
        func cancel() {
            lifetime.cancel()
        }
    }
}

/// Sends CANCEL for a stream whose iterator goes away before the stream has ended.
///
/// Not Sendable: it belongs to one iterator, and runs on its caller's isolation.
final class CallLifetime {
    private let call: CallHandle
    private var isOver = false

    init(call: CallHandle) {
        self.call = call
    }

    func next(isolation actor: isolated (any Actor)?) async throws(RPCError) -> StreamEvent? {
        guard !isOver else { return nil }
        do {
            let event = try await call.next(isolation: actor)
            switch event {
            case .message: break
            case .end, nil: isOver = true
            }
            return event
        } catch {
            isOver = true
            throw error
        }
    }

    func cancel() {
        guard !isOver else { return }
        isOver = true
        call.abandon()
    }

    deinit {
        if !isOver { call.abandon() }
    }
}
