import NIOCore
import PelletServer
import PelletWire
import Synchronization

/// Answers every call after `delay`, on the event loop's timer: a server with a known service
/// time that never blocks its loop.
struct SleepingService: Service {
    let delay: TimeAmount

    func handle(_ payload: ByteBuffer, context: CallContext) -> CallOutcome {
        let promise = context.eventLoop.makePromise(of: (any WireMessage).self)
        context.eventLoop.scheduleTask(in: delay) {
            promise.succeed(HealthResponse(version: "slept"))
        }
        return .pending(promise.futureResult)
    }
}

/// Stalls its first call for `stall`, then answers each call after `delay`: the server hiccup
/// that a closed loop hides and an open loop must show.
final class StallingService: Service, Sendable {
    let stall: TimeAmount
    let delay: TimeAmount
    private let calls = Mutex(0)

    init(stall: TimeAmount, delay: TimeAmount) {
        self.stall = stall
        self.delay = delay
    }

    /// The next call stalls again.
    func rearm() {
        calls.withLock { $0 = 0 }
    }

    func handle(_ payload: ByteBuffer, context: CallContext) -> CallOutcome {
        let isFirst = calls.withLock { count in
            count += 1
            return count == 1
        }
        let promise = context.eventLoop.makePromise(of: (any WireMessage).self)
        context.eventLoop.scheduleTask(in: isFirst ? stall : delay) {
            promise.succeed(HealthResponse(version: isFirst ? "stalled" : "prompt"))
        }
        return .pending(promise.futureResult)
    }
}
