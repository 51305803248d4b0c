import PelletWire

/// One step of a streamed completion.
public enum CompletionEvent: Sendable, Equatable {
    /// Text to append (a `CompleteChunk`).
    case delta(String)
    /// The END: content, usage, cost, route and timing of the whole call.
    case done(CompleteResponse)
}

/// A streamed Complete call decoded: `ResponseStream` with typed events, and the same rules
/// (sent when iteration starts, CANCEL when left early, errors thrown as `RPCError`).
public struct CompletionStream: AsyncSequence, Sendable {
    public typealias Element = CompletionEvent
    public typealias Failure = RPCError

    private let responses: ResponseStream

    init(responses: ResponseStream) {
        self.responses = responses
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: responses.makeAsyncIterator())
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Element = CompletionEvent
        public typealias Failure = RPCError

        private var base: ResponseStream.AsyncIterator

        init(base: ResponseStream.AsyncIterator) {
            self.base = base
        }

        @available(macOS 15.0, iOS 18.0, tvOS 18.0, watchOS 11.0, visionOS 2.0, *)
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(RPCError) -> CompletionEvent? {
            try decode(try await base.next(isolation: actor))
        }

        public mutating func next() async throws(RPCError) -> CompletionEvent? {
            try decode(try await base.next())
        }

        private func decode(_ event: StreamEvent?) throws(RPCError) -> CompletionEvent? {
            do {
                switch event {
                case .message(let payload):
                    return .delta(try CompleteChunk(decoding: payload).delta)
                case .end(let payload):
                    return .done(try CompleteResponse(decoding: payload))
                case nil:
                    return nil
                }
            } catch {
                base.cancel()
                throw RPCError(.internal, "the server's Complete stream does not decode: \(error.description)")
            }
        }
    }
}
