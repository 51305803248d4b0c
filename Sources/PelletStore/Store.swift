import CLMDB
import Logging
import PelletWire

/// The store's own tables.
struct CoreTables: Sendable {
    /// account id → `Account`
    let accounts: Database
    /// lowercased email → account id
    let accountsByEmail: Database
    /// "provider:subject" → account id
    let accountsByOAuth: Database
    /// SHA-256 of the plaintext key (32 bytes) → `ApiKey`
    let keys: Database
    /// key id → SHA-256 of the plaintext key
    let keysByID: Database
    /// "account id/key id" → empty, to list an account's keys with a prefix scan
    let accountKeys: Database
    /// Always empty: while writes are refused, a probe write puts a large value here and deletes
    /// it in the same transaction, to learn whether writes have room again.
    let probe: Database
    /// Cluster mode: "applied_sequence" → the last replicated change applied (8 bytes, big-endian).
    let replication: Database

    init(environment: Environment) throws {
        accounts = try environment.openDatabase(named: "accounts")
        accountsByEmail = try environment.openDatabase(named: "accounts_by_email")
        accountsByOAuth = try environment.openDatabase(named: "accounts_by_oauth")
        keys = try environment.openDatabase(named: "keys")
        keysByID = try environment.openDatabase(named: "keys_by_id")
        accountKeys = try environment.openDatabase(named: "account_keys")
        probe = try environment.openDatabase(named: "store_probe")
        replication = try environment.openDatabase(named: "replication")
    }
}

/// Pellet's persistent state in LMDB: accounts, API keys, and the tables other modules add.
///
/// Reads are synchronous and may be made from any thread (each is one short read transaction);
/// writes go through one writer thread that commits them in groups, and are awaited (metering's
/// short writes may be committed on the caller's thread while that writer is idle).
public final class Store: Sendable {
    public let configuration: StoreConfiguration
    let environment: Environment
    let readers: ReaderPool
    let writer: Writer
    let tables: CoreTables
    let registry = AccountRegistry()
    let logger: Logger
    /// Key id → when its last use was last written; lets ``touchKey(id:now:)`` skip the writer.
    let keyTouches = LockedState<[String: UInt64]>([:])
    /// Key id → its latest use written here and not yet reported to the cluster (nil: this
    /// store is not in a cluster, nothing is collected). See ``takeKeyUses()``.
    let keyUseReports = LockedState<[String: UInt64]?>(nil)
    /// The key and account records the authentication lookup decoded (``lookupKey(hash:)``).
    let decodedKeys = DecodedRecords<ApiKey>()
    let decodedAccounts = DecodedRecords<Account>()
    private let closed = LockedState(false)

    /// Named databases the environment can hold: the store's six plus room for other modules.
    static let maximumDatabases = 32

    /// Opens the store, creating the data directory and the tables if needed.
    public init(
        configuration: StoreConfiguration,
        logger: Logger = Logger(label: "pellet.store", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws {
        self.configuration = configuration
        self.logger = logger
        let environment = try Environment(
            configuration: configuration,
            maxDatabases: Self.maximumDatabases,
            logger: logger
        )
        do {
            // Opened here, before the writer thread exists, so no other transaction can race
            // the `mdb_dbi_open` calls.
            self.tables = try CoreTables(environment: environment)
        } catch {
            environment.close()
            throw error
        }
        self.environment = environment
        self.readers = ReaderPool(environment: environment, maxReaders: configuration.maxReaders)
        self.writer = Writer(environment: environment, configuration: configuration, logger: logger)
        registry.register(AccountsTable(tables: tables))
        registry.register(KeysTable(tables: tables))
        logger.info(
            "store opened",
            metadata: [
                "store.path": "\(configuration.dataDirectory)",
                "store.map_size": "\(configuration.mapSizeBytes)",
                "store.durability": "\(configuration.durability)",
            ]
        )
    }

    deinit {
        close()
    }

    /// Runs `body` in a read transaction on the calling thread. Never blocks on writers.
    public func read<Result>(_ body: (ReadTransaction) throws -> Result) throws -> Result {
        try readers.withTransaction(body)
    }

    /// Runs `body` on the writer thread inside the next group commit and returns its result once
    /// that commit succeeded (in `.full` durability: once it is on disk). If `body` throws, only
    /// its own changes are rolled back. `body` runs even if the awaiting task is cancelled.
    public func write<Value: Sendable>(
        _ body: @escaping @Sendable (WriteTransaction) throws -> Value
    ) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            write(body) { continuation.resume(with: $0) }
        }
    }

    /// ``write(_:)`` for a caller that is not in a task: `completion` runs on the writer thread
    /// once the commit is done (it must be quick and must not block). An event loop answering
    /// from there saves the two thread hops into and out of Swift's concurrency pool.
    public func write<Value: Sendable>(
        _ body: @escaping @Sendable (WriteTransaction) throws -> Value,
        completion: @escaping @Sendable (Result<Value, any Error>) -> Void
    ) {
        writer.enqueue(CallbackJob(body: body, completion: completion))
    }

    /// ``write(_:completion:)`` for a `body` that changes nothing but the transaction (no state
    /// outside it), so that it may run again after a rollback: the writer then groups it with
    /// other such writes in one transaction, without one nested transaction per write.
    func writeReplayable<Value: Sendable>(
        _ body: @escaping @Sendable (WriteTransaction) throws -> Value,
        completion: @escaping @Sendable (Result<Value, any Error>) -> Void
    ) {
        writer.enqueue(CallbackJob(isReplayable: true, body: body, completion: completion))
    }

    /// ``write(_:completion:)`` for a short write that its caller waits for on a thread it keeps
    /// (an event loop answering a call): in `.batched` durability, while the writer thread is
    /// idle, the write is committed on the calling thread and `completion` runs there before
    /// this returns, which saves waking the writer and the hop back; otherwise it joins the
    /// writer's next group commit, as with ``write(_:completion:)``. Either way `completion`
    /// runs only once the commit is done. `body` must change nothing but the transaction (see
    /// ``writeReplayable(_:completion:)``).
    func writeOnCallingThreadIfIdle<Value: Sendable>(
        _ body: @escaping @Sendable (WriteTransaction) throws -> Value,
        completion: @escaping @Sendable (Result<Value, any Error>) -> Void
    ) {
        writer.commitOnCallingThread(CallbackJob(isReplayable: true, body: body, completion: completion))
    }

    /// Queues a write nobody waits for; a failure is logged.
    func writeDetached(_ what: String, _ body: @escaping @Sendable (WriteTransaction) throws -> Void) {
        writer.enqueue(DetachedJob(what, logger: logger, body: body))
    }

    /// Opens (creating if needed) a table for another module, e.g. metering counters. Call it
    /// while starting up; the handle stays valid until the store is closed.
    public func openDatabase(named name: String) async throws -> Database {
        let environment = self.environment
        return try await withCheckedThrowingContinuation { continuation in
            // Runs alone on the writer thread: LMDB allows one `mdb_dbi_open` at a time, in a
            // top-level transaction that nothing else's failure can roll back.
            writer.enqueue(
                CallbackJob(
                    runsAlone: true,
                    body: { transaction in try Environment.openDatabase(named: name, in: transaction.handle) },
                    completion: { result in
                        // Recorded once committed (still on the writer thread, so before any
                        // compaction can run), for compaction to reopen it in the same order.
                        if case .success(let database) = result { environment.recordOpened(database) }
                        continuation.resume(with: result)
                    }
                )
            )
        }
    }

    /// Adds a per-account table to account deletion and export.
    public func register(_ table: any AccountScopedTable) {
        registry.register(table)
    }

    // MARK: Write health

    /// Why the store cannot take writes now (the map is full, the disk failed), or nil while it
    /// can. Set by the first write that fails for such a reason, cleared by the next commit that
    /// succeeds. Metering fails closed on it: Complete is refused while it is set.
    public var writeRefusal: StoreError? { writer.health.refusal }

    /// While writes are refused, sends one probe write (at most once a second) whose success
    /// ends the refusal, e.g. once retention or compaction freed pages. Cheap to call on every
    /// refused call.
    ///
    /// The probe needs room for ``probeHeadroomBytes``, far more than one call's metering, then
    /// takes it back in the same transaction: a store with room for a tiny write but not for
    /// real traffic stays refusing instead of letting one call through and failing it.
    public func probeWritesIfRefusing() {
        guard writer.health.refusal != nil, writer.health.probeIsDue() else { return }
        let probe = tables.probe
        let health = writer.health
        write { transaction in
            try transaction.put(probe, key: "probe", value: [UInt8](repeating: 0, count: Self.probeHeadroomBytes))
            _ = try transaction.delete(probe, key: "probe")
        } completion: { result in
            if case .success = result { health.recordSuccess() }
        }
    }

    /// The room a probe write must find before Complete is served again: sixteen 4 KiB pages.
    static let probeHeadroomBytes = 64 << 10

    /// How much of the map is used; for Health, metrics and the operator's warning.
    public func mapUsage() throws -> MapUsage {
        // Inside a read, so that closing the store waits for it.
        try read { _ in try environment.mapUsage() }
    }

    /// Top-level commits so far. Each is one transaction (and one sync in `.full` durability),
    /// however many writes it held.
    public var commitCount: Int { writer.counters.withLock { $0.commits } }

    /// Write jobs waiting for the writer thread (a gauge for the metrics).
    public var writerQueueDepth: Int { writer.queueDepth.load(ordering: .relaxed) }

    /// The time of each top-level commit (a histogram for the metrics).
    public var commitDurations: DurationHistograms { writer.commitDurations }

    /// Syncs made by the `.batched` durability timer so far.
    public var timedSyncCount: Int { writer.counters.withLock { $0.timedSyncs } }

    /// Commits the queued writes, stops the writer thread, waits for reads in progress, and
    /// closes the environment. Later calls fail with `.unavailable`. Blocks for as long as the
    /// last group commit takes; safe to call more than once.
    public func close() {
        let alreadyClosed = closed.withLock { closed in
            defer { closed = true }
            return closed
        }
        guard !alreadyClosed else { return }
        let readers = self.readers
        let environment = self.environment
        let logger = self.logger
        let path = configuration.dataDirectory
        // The writer thread closes the environment after its last commit, so no write can
        // outlive it whichever thread the store is closed (or deinitialized) on.
        writer.stop {
            readers.close()
            environment.close()
            logger.info("store closed", metadata: ["store.path": "\(path)"])
        }
    }
}

extension ReadTransaction {
    /// Decodes the message stored under `key`; a record that does not decode is reported as
    /// corrupt rather than passed on.
    func message<Message: WireMessage>(
        _ type: Message.Type,
        _ database: Database,
        key: some StoreKey
    ) throws -> Message? {
        try withValue(database, key: key) { bytes in
            do {
                return try Message(decoding: bytes)
            } catch {
                throw StoreError.corruptRecord(table: database.name, error)
            }
        }
    }
}

extension WriteTransaction {
    func message<Message: WireMessage>(
        _ type: Message.Type,
        _ database: Database,
        key: some StoreKey
    ) throws -> Message? {
        try reader.message(type, database, key: key)
    }

    func put(_ database: Database, key: some StoreKey, message: some WireMessage) throws {
        try put(database, key: key, value: message.encodedBytes())
    }
}
