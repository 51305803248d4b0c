import Synchronization

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
/// `Sendable`: its state is one atomic word (the unconsumed count shifted left by one, the
/// paused flag in the low bit), changed by compare-and-exchange: a body chunk costs each side one
/// atomic operation and no lock, and a transfer that pauses while the consumer drains the
/// backlog is always resumed (both facts change together).
final class BodyBacklog: Sendable {
    let limit: Int
    private let state = Atomic<Int>(0)
    private static let pausedBit = 1

    /// `limit` in bytes, above zero.
    init(limit: Int) {
        precondition(limit > 0, "a backlog limit must be positive")
        self.limit = limit
    }

    /// Provider thread: whether `count` more bytes may be handed over now. Any chunk is taken
    /// while the backlog is under the limit, so it stays below the limit plus one chunk
    /// (libcurl's at most `CURL_MAX_WRITE_SIZE`, 16 KiB). False: the transfer must pause.
    func admit(_ count: Int) -> Bool {
        var current = state.load(ordering: .relaxed)
        while true {
            let full = current >> 1 >= limit
            let next = full ? current | Self.pausedBit : current + count << 1
            let (exchanged, original) = state.compareExchange(
                expected: current, desired: next, ordering: .acquiringAndReleasing)
            if exchanged { return !full }
            current = original
        }
    }

    /// Consumer, any thread: `count` handed-over bytes are done with. True when the transfer
    /// was paused for the backlog and is to resume now (once): when the backlog has fallen to
    /// half the limit.
    func consume(_ count: Int) -> Bool {
        var current = state.load(ordering: .relaxed)
        while true {
            let unconsumed = max(0, current >> 1 - count)
            let resumes = current & Self.pausedBit != 0 && unconsumed <= limit / 2
            let next = unconsumed << 1 | (resumes ? 0 : current & Self.pausedBit)
            let (exchanged, original) = state.compareExchange(
                expected: current, desired: next, ordering: .acquiringAndReleasing)
            if exchanged { return resumes }
            current = original
        }
    }

    /// Bytes handed over and not yet consumed.
    var unconsumed: Int {
        state.load(ordering: .relaxed) >> 1
    }
}
