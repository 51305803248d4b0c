import NIOCore
import PelletServer
import PelletWire
import Synchronization

/// A service whose calls stay in flight until the test releases them: for deadlines, CANCEL,
/// in-flight limits and graceful shutdown. It records how each call ended.
public final class HeldService: Service, Sendable {
    private struct State {
        var held: [UInt32: EventLoopPromise<any WireMessage>] = [:]
        var cancellations: [UInt32: RPCError] = [:]
        var started = 0
    }

    private let state = Mutex(State())

    public init() {}

    public func handle(_ payload: ByteBuffer, context: CallContext) -> CallOutcome {
        let promise = context.eventLoop.makePromise(of: (any WireMessage).self)
        let stream = context.stream
        state.withLock {
            $0.held[stream] = promise
            $0.started += 1
        }
        context.cancellation.onCancel { [self] reason in
            state.withLock { $0.cancellations[stream] = reason }
        }
        return .pending(promise.futureResult)
    }

    public var startedCount: Int { state.withLock { $0.started } }
    public var heldCount: Int { state.withLock { $0.held.count } }

    /// How the call on `stream` was ended early, if it was.
    public func cancellation(of stream: UInt32) -> RPCError? {
        state.withLock { $0.cancellations[stream] }
    }

    /// Answers every held call with `reply`.
    public func releaseAll(with reply: some WireMessage = HealthResponse(version: "released")) {
        let promises = state.withLock { state in
            defer { state.held.removeAll() }
            return Array(state.held.values)
        }
        for promise in promises { promise.succeed(reply) }
    }
}

/// A streaming service: sends `count` MESSAGE frames (CompleteChunk "0", "1", ...) from another
/// thread, then ends with a CompleteResponse whose content counts them.
public struct CountingStreamService: Service {
    public let count: Int

    public init(count: Int) {
        self.count = count
    }

    public var streams: Bool { true }

    public func handle(_ payload: ByteBuffer, context: CallContext) -> CallOutcome {
        let promise = context.eventLoop.makePromise(of: (any WireMessage).self)
        let count = self.count
        Thread.detachNewThreadSafely {
            for index in 0..<count { context.sendMessage(CompleteChunk(delta: "\(index)")) }
            promise.succeed(CompleteResponse(content: context.isStreaming ? "" : "\(count) chunks", attempts: UInt32(count)))
        }
        return .pending(promise.futureResult)
    }
}

import Foundation

extension Thread {
    fileprivate static func detachNewThreadSafely(_ body: @escaping @Sendable () -> Void) {
        Thread.detachNewThread(body)
    }
}
