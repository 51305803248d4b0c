import Foundation

/// Test state shared between tasks, behind an `NSLock` rather than `Synchronization.Mutex`:
/// ThreadSanitizer on Linux does not see `Mutex`'s futex hand-over and reports false races
/// (`tools/test --sanitize` did, in these tests).
///
/// `@unchecked Sendable` is safe because `value` is only touched inside `withLock`.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
