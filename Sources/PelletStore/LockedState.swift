import Foundation

/// State behind a lock.
///
/// An `NSLock` (a pthread mutex) rather than `Synchronization.Mutex`: ThreadSanitizer
/// understands pthread mutexes, but on Linux it does not see the hand-over in `Mutex`'s
/// contended (futex) path and reports false races (it did, in this module's tests). It also
/// keeps the package buildable for the macOS version it declares (`Mutex` needs macOS 15).
///
/// `@unchecked Sendable` is safe because `state` is only read or written inside `withLock`.
final class LockedState<State>: @unchecked Sendable {
    private let lock = NSLock()
    private var state: State

    init(_ state: State) {
        self.state = state
    }

    func withLock<Result>(_ body: (inout State) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&state)
    }
}
