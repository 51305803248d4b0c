import NIOCore
import NIOPosix
import PelletWire

extension NIOThreadPool {
    /// Answers a call from this pool rather than from its event loop: for work that scans or may
    /// fault pages in from disk (usage queries, exports), which must not hold up the loop's
    /// other connections. A store error becomes the call's status.
    func answer(
        _ context: CallContext,
        _ work: @escaping @Sendable () throws -> any WireMessage
    ) -> CallOutcome {
        let cancellation = context.cancellation
        let answer = runIfActive(eventLoop: context.eventLoop) { () throws -> any WireMessage in
            // A call that ended while it waited for a thread (CANCEL, deadline, disconnect) has
            // been answered already: skip the work.
            guard !cancellation.isCancelled else { throw RPCError(.cancelled, "the call ended before its work ran") }
            do {
                return try work()
            } catch let error as RPCError {
                throw error
            } catch {
                throw RPCError(storeError: error)
            }
        }
        return .pending(
            answer.flatMapErrorThrowing { error in
                if error is NIOThreadPoolError.ThreadPoolInactive {
                    throw RPCError(.unavailable, "the server is shutting down")
                }
                throw error
            }
        )
    }
}
