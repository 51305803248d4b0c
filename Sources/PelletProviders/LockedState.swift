import Foundation

/// State behind a lock.
///
/// An `NSLock` (a pthread mutex) rather than `Synchronization.Mutex`, as in PelletStore:
/// ThreadSanitizer understands pthread mutexes (on Linux it misses the hand-over in `Mutex`'s
/// futex path and reports false races), and `Mutex` needs macOS 15 where the package declares 14.
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
