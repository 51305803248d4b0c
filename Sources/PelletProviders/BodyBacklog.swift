/// The body bytes a transfer's handler has been given and has not yet consumed, against a limit:
/// what bounds the hand-off from the provider thread to a slower consumer (an event loop that
/// decodes the stream), whatever the consumer's pace.
///
/// The provider thread asks ``admit(_:)`` before it hands bytes over; when the backlog is full
/// the transfer pauses and libcurl keeps those bytes, to deliver them again, in order, on
/// resuming. The consumer reports ``consume(_:)``; once the backlog has fallen to half the limit
/// (so that a consumer working through it does not resume the transfer chunk by chunk), a
/// transfer it paused is resumed.
///
/// `Sendable`: its state is behind a lock, taken once per body chunk on each side.
final class BodyBacklog: Sendable {
    private struct State {
        var unconsumed = 0
        var paused = false
    }

    let limit: Int
    private let state = LockedState(State())

    /// `limit` in bytes, above zero.
    init(limit: Int) {
        precondition(limit > 0, "a backlog limit must be positive")
        self.limit = limit
    }

    /// Provider thread: whether `count` more bytes may be handed over now. Any chunk is taken
    /// while the backlog is under the limit, so it stays below the limit plus one chunk
    /// (libcurl's at most `CURL_MAX_WRITE_SIZE`, 16 KiB). False: the transfer must pause.
    func admit(_ count: Int) -> Bool {
        state.withLock { state in
            guard state.unconsumed < limit else {
                state.paused = true
                return false
            }
            state.unconsumed += count
            return true
        }
    }

    /// Consumer, any thread: `count` handed-over bytes are done with. True when the transfer
    /// was paused for the backlog and is to resume now (once).
    func consume(_ count: Int) -> Bool {
        state.withLock { state in
            state.unconsumed = max(0, state.unconsumed - count)
            guard state.paused, state.unconsumed <= limit / 2 else { return false }
            state.paused = false
            return true
        }
    }

    /// Bytes handed over and not yet consumed.
    var unconsumed: Int {
        state.withLock { $0.unconsumed }
    }
}
