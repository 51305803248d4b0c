import Foundation

/// What a lean loop (`LeanLoop`) needs of the protocol it speaks: how a call's request goes out
/// and which call each answer coming back belongs to. Everything else (the closed and open
/// loops, the slots, the recording) is the loop's and the same for every protocol.
///
/// One value per connection, owned by the connection's thread: it may keep state from one read
/// to the next (an answer read in part, the order of the calls out on an HTTP/1.1 connection).
protocol LeanWire: Sendable {
    /// How many requests there are to choose from: one per prompt.
    var requestCount: Int { get }

    /// Appends request number `prompt`, made by the call in `slot`, to `output`.
    mutating func appendRequest(prompt: Int, slot: Int, to output: inout [UInt8])

    /// Takes the whole answers at the front of `bytes`, handing each to `answered` with its call's
    /// slot. Returns how many bytes it used (the rest waits for the next read), or nil when the
    /// connection cannot go on: the calls still out then end as transport errors.
    mutating func takeAnswers(
        from bytes: UnsafeRawBufferPointer,
        answered: (_ slot: Int, _ outcome: LoadOutcome) -> Void
    ) -> Int?
}

/// The bytes read from a lean connection that its wire has not taken yet.
struct LeanInput {
    private var bytes = [UInt8](repeating: 0, count: 1 << 20)
    private var start = 0
    private var end = 0

    /// One `read` of whatever has arrived, handed to `wire`. False when the connection closed,
    /// failed or cannot go on (see `LeanWire.takeAnswers`).
    mutating func read<Wire: LeanWire>(
        from descriptor: Int32,
        into wire: inout Wire,
        answered: (_ slot: Int, _ outcome: LoadOutcome) -> Void
    ) -> Bool {
        if end == bytes.count {
            // The front holds only bytes already taken: move the partial answer down, and grow
            // only when it alone fills the buffer.
            bytes.withUnsafeMutableBytes { raw in
                raw.baseAddress!.copyMemory(from: raw.baseAddress! + start, byteCount: end - start)
            }
            end -= start
            start = 0
            if end == bytes.count { bytes += [UInt8](repeating: 0, count: bytes.count) }
        }
        let count = bytes.withUnsafeMutableBytes { raw in
            recv(descriptor, raw.baseAddress! + end, raw.count - end, 0)
        }
        if count < 0 { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR }
        guard count > 0 else { return false }
        end += count
        let unread = start..<end
        let used = bytes.withUnsafeBytes { raw in
            wire.takeAnswers(from: UnsafeRawBufferPointer(rebasing: raw[unread]), answered: answered)
        }
        guard let used else { return false }
        start += used
        if start == end {
            start = 0
            end = 0
        }
        return true
    }
}
