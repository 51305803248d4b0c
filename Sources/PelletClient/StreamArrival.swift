import NIOCore
import Synchronization

/// When a streamed call's first MESSAGE frame reached the client's event loop: the moment a
/// driver that reads a provider's HTTP stream on its own event loop would note (pellet-load's
/// direct baseline). The iterator hands the event to the caller's task a thread hop later (the
/// task was waiting for it: the first MESSAGE of a call always finds it so), and that hop is the
/// client's, not the server's: a time to first chunk compared with that baseline is measured here.
/// `package`: for the load generator, not a public API.
package final class StreamArrival: Sendable {
    /// `NIODeadline.uptimeNanoseconds` (CLOCK_MONOTONIC); 0 until the first MESSAGE.
    private let firstMessage = Atomic<UInt64>(0)

    package init() {}

    /// The first MESSAGE's arrival, once there was one. Read it after the iterator returned
    /// that message: the loop stored it before handing the message on.
    package var firstMessageUptimeNanoseconds: UInt64? {
        let value = firstMessage.load(ordering: .acquiring)
        return value == 0 ? nil : value
    }

    /// On the event loop, at each MESSAGE: only the first is kept.
    func messageArrived() {
        _ = firstMessage.compareExchange(
            expected: 0, desired: max(1, NIODeadline.now().uptimeNanoseconds), ordering: .releasing)
    }
}
