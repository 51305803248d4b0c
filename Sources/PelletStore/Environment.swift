import CLMDB
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A named LMDB database (a table). A plain handle: valid for the life of the store.
public struct Database: Sendable, Hashable {
    let handle: MDB_dbi
    /// The name it was opened under, for messages.
    public let name: String
}

/// The LMDB environment: the one owner of the `MDB_env` handle.
///
/// `@unchecked Sendable` is safe because LMDB allows the calls made through it (beginning
/// transactions with `MDB_NOTLS`, `mdb_env_sync`, `mdb_reader_check`) from any thread at any
/// time, and the one call that is not (`mdb_env_close`) is made only by ``Store/close()`` after the
/// writer thread has stopped and every read transaction has been returned and aborted.
final class Environment: @unchecked Sendable {
    let handle: OpaquePointer
    let path: String
    /// Held from opening to ``close()``: one user of the data directory at a time.
    private let directoryLock: DataDirectoryLock

    /// Opens (creating if needed) the environment in `configuration.dataDirectory`.
    init(configuration: StoreConfiguration, maxDatabases: Int, logger: Logger) throws {
        let path = configuration.dataDirectory
        // If opening fails below, the lock is dropped with this local.
        let directoryLock = try DataDirectory.open(path, logger: logger)

        var env: OpaquePointer?
        try check(mdb_env_create(&env))
        guard let env else { throw StoreError(code: ENOMEM, context: "cannot create the LMDB environment") }
        do {
            try check(mdb_env_set_mapsize(env, configuration.mapSizeBytes), "cannot set the map size")
            try check(mdb_env_set_maxdbs(env, MDB_dbi(maxDatabases)), "cannot set the number of tables")
            try check(
                mdb_env_set_maxreaders(env, UInt32(clamping: configuration.maxReaders)),
                "cannot set the number of readers"
            )
            // MDB_NOTLS: read transactions are not bound to a thread, so NIO event loops and
            // the reader pool may hand them between threads. MDB_NOSYNC only when the operator
            // chose batched durability; the writer thread then syncs on a timer.
            var flags = UInt32(MDB_NOTLS)
            if configuration.durability == .batched {
                flags |= UInt32(MDB_NOSYNC)
            }
            let code = mdb_env_open(env, path, flags, DataDirectory.fileMode)
            switch code {
            case MDB_SUCCESS:
                break
            case EACCES, EPERM, EROFS, ENOENT, ENOTDIR:
                // About the directory or its files: say so in the operator's terms.
                throw StoreError.dataDirectory(path, errno: code)
            default:
                throw StoreError(code: code, context: "cannot open the store in \(path)")
            }
        } catch {
            mdb_env_close(env)
            throw error
        }
        self.handle = env
        self.path = path
        self.directoryLock = directoryLock
        _ = try? checkReaders()
    }

    /// Reclaims reader slots left by processes that died; returns how many were cleared.
    @discardableResult
    func checkReaders() throws -> Int {
        var dead: Int32 = 0
        try check(mdb_reader_check(handle, &dead), "cannot check the reader table")
        return Int(dead)
    }

    /// Flushes committed data to disk (used by `.batched` durability).
    func sync() throws {
        try check(mdb_env_sync(handle, 1), "cannot sync the data file")
    }

    /// Opens (creating if needed) a named database in a short write transaction of its own.
    /// LMDB requires that no other transaction in the process opens a database at the same
    /// time; callers guarantee it (the store's initializer, or the writer thread).
    func openDatabase(named name: String) throws -> Database {
        var txn: OpaquePointer?
        try check(mdb_txn_begin(handle, nil, 0, &txn), "cannot begin a transaction to open table \(name)")
        guard let txn else { throw StoreError(code: EINVAL, context: "cannot open table \(name)") }
        let database: Database
        do {
            database = try Self.openDatabase(named: name, in: txn)
        } catch {
            mdb_txn_abort(txn)
            throw error
        }
        try check(mdb_txn_commit(txn), "cannot create table \(name)")
        return database
    }

    /// Opens (creating if needed) a named database inside the write transaction `txn`; the
    /// handle is usable by other transactions once `txn` commits.
    static func openDatabase(named name: String, in txn: OpaquePointer) throws -> Database {
        var dbi: MDB_dbi = 0
        try check(mdb_dbi_open(txn, name, UInt32(MDB_CREATE), &dbi), "cannot open table \(name)")
        return Database(handle: dbi, name: name)
    }

    /// Closes the environment. Only ``Store/close()`` calls it, once, after all use has ended.
    func close() {
        mdb_env_close(handle)
        directoryLock.release()
    }
}
