import NIOCore
import PelletWire
import Synchronization

/// The events of one call on their way from the connection's event loop to the caller's task.
///
/// The loop delivers and the caller takes, each on its own thread, under one lock. An event that
/// is already here when the caller asks is handed over on the caller's thread: no hop to the loop
/// and back, which cost about 130 µs per event. Only when nothing is here does the caller park a
/// continuation that the loop resumes at the next delivery. The lock is never held while a
/// continuation is resumed: resuming can run the waiting task at once, on this thread.
///
/// Events that arrive before the caller asks for them are buffered (the protocol has no flow
/// control; Complete streams are small).
final class CallInbox: Sendable {
    typealias Waiter = CheckedContinuation<Result<StreamEvent?, RPCError>, Never>
    typealias Outcome = Result<StreamEvent?, RPCError>

    /// What `park(_:)` did with a waiter.
    enum Parking {
        /// Parked until the next delivery. `isFirst`: the first wait of this call, so the caller
        /// must now have the call sent (calls are sent lazily).
        case parked(isFirst: Bool)
        /// Not parked: resume it with this now.
        case ready(Outcome)
    }

    private struct State {
        /// Events not handed out yet, then possibly the error that ended the call.
        var outcomes = CircularBuffer<Result<StreamEvent, RPCError>>()
        /// Nothing more will be delivered: the END/RESPONSE came, or the call failed.
        var isFinished = false
        /// Whether a caller has asked for an event yet (and so the call was sent).
        var isRequested = false
        /// Parked only while `outcomes` is empty and the call has not finished.
        var waiter: Waiter?
    }

    private let state = Mutex(State())

    /// The next event if one is here (or nil for the end, or the error); nil when the caller has
    /// to wait. Also nil before the first wait, which has to send the call.
    func takeReady() -> Outcome? {
        state.withLock { state in
            guard state.isRequested, state.waiter == nil else { return nil }
            return Self.takeReady(from: &state)
        }
    }

    /// Hands out the next event now if there is one (or the end), else parks `waiter`.
    func park(_ waiter: Waiter) -> Parking {
        state.withLock { state in
            if let outcome = Self.takeReady(from: &state) { return .ready(outcome) }
            guard state.waiter == nil else {
                return .ready(
                    .failure(
                        RPCError(
                            .failedPrecondition,
                            "next() was called on a response stream while another call to next() on it was still waiting"
                        )
                    )
                )
            }
            state.waiter = waiter
            let isFirst = !state.isRequested
            state.isRequested = true
            return .parked(isFirst: isFirst)
        }
    }

    private static func takeReady(from state: inout State) -> Outcome? {
        if let outcome = state.outcomes.popFirst() { return outcome.map { Optional($0) } }
        if state.isFinished { return .success(nil) }
        return nil
    }

    var isFinished: Bool {
        state.withLock { $0.isFinished }
    }

    /// A MESSAGE (on the event loop).
    func deliver(_ event: StreamEvent) {
        hand(.success(event), finishing: false, discardingBuffered: false)
    }

    /// The OK END or RESPONSE (on the event loop).
    func succeed(with final: StreamEvent) {
        hand(.success(final), finishing: true, discardingBuffered: false)
    }

    /// Ends the call with `error`; from any thread (the caller's, when its task is cancelled).
    /// `discardingBuffered` drops the events not yet handed out: the caller gave up (cancelled,
    /// timed out) and wants the error now, not after stale chunks.
    func fail(_ error: RPCError, discardingBuffered: Bool) {
        hand(.failure(error), finishing: true, discardingBuffered: discardingBuffered)
    }

    private func hand(_ outcome: Result<StreamEvent, RPCError>, finishing: Bool, discardingBuffered: Bool) {
        let waiter: Waiter? = state.withLock { state in
            guard !state.isFinished else { return nil }
            state.isFinished = finishing
            if discardingBuffered { state.outcomes.removeAll() }
            guard let waiter = state.waiter else {
                state.outcomes.append(outcome)
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: outcome.map { Optional($0) })
    }
}
