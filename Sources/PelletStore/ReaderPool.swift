import CLMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Read transactions for synchronous reads from any thread (the NIO event loops' hot path).
///
/// A read is one short transaction: taken from the pool, renewed (`mdb_txn_renew` takes a fresh
/// snapshot, so a read sees every write committed before it began), used, reset
/// (`mdb_txn_reset` releases the snapshot, so no reader pins old pages) and returned. Renewing a
/// reset transaction saves the allocation and reader-slot lookup of `mdb_txn_begin`. With
/// `MDB_NOTLS` a reset transaction may be renewed on another thread; each one is used by one
/// thread at a time because it is either in the pool or lent to exactly one caller.
final class ReaderPool: Sendable {
    private struct State {
        /// Reset transactions, each held by the pool alone.
        var idle: [OpaquePointer] = []
        var lent = 0
        var closed = false
        /// Set by ``withReadsPaused(_:)``: new reads wait, returned transactions are aborted.
        var paused = false
    }

    private let environment: Environment
    private let state = LockedState(State())
    /// Idle transactions kept beyond this are aborted, so the pool never holds more reader
    /// slots than a burst needed, and never all of them.
    private let capacity: Int

    init(environment: Environment, maxReaders: Int) {
        self.environment = environment
        self.capacity = max(1, min(64, maxReaders / 2))
    }

    func withTransaction<Result>(_ body: (ReadTransaction) throws -> Result) throws -> Result {
        let handle = try acquire()
        defer { release(handle) }
        return try body(ReadTransaction(handle: handle))
    }

    private enum Admission {
        case closed
        case paused
        case admitted(idle: OpaquePointer?)
    }

    private func acquire() throws -> OpaquePointer {
        var admission: Admission
        while true {
            admission = state.withLock { state in
                if state.closed { return .closed }
                if state.paused { return .paused }
                state.lent += 1
                return .admitted(idle: state.idle.popLast())
            }
            guard case .paused = admission else { break }
            // The data file is being swapped, which takes milliseconds; polling keeps the hot
            // path free of a condition variable, as in close().
            usleep(100)
        }
        guard case .admitted(let idle) = admission else { throw StoreError.closed }
        if let idle {
            let code = mdb_txn_renew(idle)
            if code == MDB_SUCCESS { return idle }
            mdb_txn_abort(idle)
            returnSlot()
            throw StoreError(code: code, context: "cannot begin a read transaction")
        }
        var handle: OpaquePointer?
        let code = mdb_txn_begin(environment.handle, nil, UInt32(MDB_RDONLY), &handle)
        guard code == MDB_SUCCESS, let handle else {
            returnSlot()
            throw StoreError(code: code, context: "cannot begin a read transaction")
        }
        return handle
    }

    private func release(_ handle: OpaquePointer) {
        mdb_txn_reset(handle)
        let kept = state.withLock { state in
            // While paused the transaction belongs to an environment about to be closed.
            guard !state.closed, !state.paused, state.idle.count < capacity else { return false }
            state.idle.append(handle)
            state.lent -= 1
            return true
        }
        if !kept {
            // Abort before giving the slot back: once `lent` reaches zero, close() may close
            // the environment.
            mdb_txn_abort(handle)
            returnSlot()
        }
    }

    private func returnSlot() {
        state.withLock { $0.lent -= 1 }
    }

    /// Refuses new reads, waits for the reads in progress to finish, and aborts every pooled
    /// transaction, so that the environment can be closed.
    func close() {
        drain { $0.closed = true }
    }

    /// Runs `body` while no read transaction exists: new reads wait until it returns, reads in
    /// progress finish first, and the pooled transactions (bound to the environment that `body`
    /// may replace) are aborted; later reads begin fresh ones. Only the writer thread calls it.
    func withReadsPaused<Result>(_ body: () throws -> Result) rethrows -> Result {
        drain { $0.paused = true }
        defer { state.withLock { $0.paused = false } }
        return try body()
    }

    /// Applies `stop` (which makes new reads wait or fail), aborts the idle transactions, and
    /// waits until every lent one has been returned and aborted.
    private func drain(_ stop: (inout State) -> Void) {
        let idle = state.withLock { state in
            stop(&state)
            defer { state.idle = [] }
            return state.idle
        }
        for transaction in idle {
            mdb_txn_abort(transaction)
        }
        // Reads take microseconds; polling keeps the hot path free of a condition variable.
        while state.withLock({ $0.lent }) > 0 {
            usleep(200)
        }
    }
}
