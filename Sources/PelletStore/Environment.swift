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
/// time, and the calls that are not (`mdb_env_close`, and replacing `handle`) are made only when
/// no transaction can exist: by ``Store/close()`` after the writer thread has stopped and every
/// read transaction has been returned and aborted, and by ``swapDataFile(with:)`` (compaction).
final class Environment: @unchecked Sendable {
    /// The open `MDB_env`. A `var` only so that compaction can put a rewritten data file in use.
    /// It changes only in ``swapDataFile(with:)``, which runs on the writer thread (so no write
    /// transaction is open) inside ``ReaderPool/withReadsPaused(_:)`` (so no read transaction is
    /// open or can begin, and the pool's lock orders the change before every later read). Every
    /// other use is on the writer thread or inside a pooled read.
    private(set) var handle: OpaquePointer
    let path: String
    private let configuration: StoreConfiguration
    private let maxDatabases: Int
    /// Every named database opened so far, in order. LMDB numbers a process's `MDB_dbi` handles
    /// in the order databases are opened, so reopening these in this order after a swap gives
    /// every ``Database`` value held across the code its old number back.
    private let openedDatabases = LockedState<[Database]>([])
    /// Held from opening to ``close()``: one user of the data directory at a time. A compaction's
    /// swap keeps it: it reopens the LMDB environment, not the directory.
    private let directoryLock: DataDirectoryLock

    /// The data file, and the compacted copy written next to it before it replaces it.
    var dataFile: String { path + "/data.mdb" }
    var compactedFile: String { path + "/data.mdb.compact" }

    /// Opens (creating if needed) the environment in `configuration.dataDirectory`.
    init(configuration: StoreConfiguration, maxDatabases: Int, logger: Logger) throws {
        let path = configuration.dataDirectory
        // If opening fails below, the lock is dropped with this local.
        let directoryLock = try DataDirectory.open(path, logger: logger)

        // A copy left by a compaction that crashed before its rename; data.mdb is whole.
        unlink(path + "/data.mdb.compact")

        self.handle = try Self.openHandle(configuration: configuration, maxDatabases: maxDatabases)
        self.path = path
        self.configuration = configuration
        self.maxDatabases = maxDatabases
        self.directoryLock = directoryLock
        _ = try? checkReaders()
    }

    /// Creates and opens an `MDB_env` on the data directory with the configuration's settings:
    /// for the first open, and again for a compaction's swap.
    private static func openHandle(configuration: StoreConfiguration, maxDatabases: Int) throws -> OpaquePointer {
        let path = configuration.dataDirectory
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
        return env
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
        let database = try reopen(name)
        recordOpened(database)
        return database
    }

    /// Opens a named database in a transaction of its own without noting it for compaction
    /// (which calls it to reopen the noted ones).
    private func reopen(_ name: String) throws -> Database {
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

    /// Notes a database whose opening committed, for ``swapDataFile(with:)`` to reopen.
    func recordOpened(_ database: Database) {
        openedDatabases.withLock { $0.append(database) }
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

    /// Puts the fsynced compacted copy at `compacted` in use in place of data.mdb: renames it over
    /// data.mdb, syncs the directory, closes the environment and opens it again on the new file
    /// with the same configuration, reopening every named database in its original order.
    ///
    /// Call it on the writer thread with reads paused (see ``handle``). If the rename fails,
    /// nothing changed: the old file stays in use and the error is thrown. After the rename the
    /// swap cannot be undone (the old file is gone), so a failure to reopen stops the process:
    /// no write has committed since the copy, so data.mdb on disk is complete either way and a
    /// restart opens it, whereas carrying on would read and write through a closed handle or
    /// through database numbers that now name other tables.
    func swapDataFile(with compacted: String) throws {
        guard rename(compacted, dataFile) == 0 else {
            throw StoreError(code: errno, context: "cannot rename \(compacted) to \(dataFile)")
        }
        do {
            try syncDirectory(path)
            mdb_env_close(handle)
            handle = try Self.openHandle(configuration: configuration, maxDatabases: maxDatabases)
            for database in openedDatabases.withLock({ $0 }) {
                let again = try reopen(database.name)
                guard again.handle == database.handle else {
                    throw StoreError(
                        kind: .dataCorrupted,
                        message: "table \(database.name) reopened as dbi \(again.handle), not \(database.handle)"
                    )
                }
            }
        } catch {
            fatalError("cannot reopen the store on the compacted \(dataFile): \(error); the file is complete, restart")
        }
    }
}


/// fsync(2) of a directory, so that a rename in it survives a power loss. (A free function: in
/// the class, `close` would name ``Environment/close()``.)
private func syncDirectory(_ path: String) throws {
    let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard descriptor >= 0 else { throw StoreError(code: errno, context: "cannot open \(path) to sync it") }
    defer { close(descriptor) }
    guard fsync(descriptor) == 0 else { throw StoreError(code: errno, context: "cannot sync \(path)") }
}
