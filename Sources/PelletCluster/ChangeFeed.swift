import Foundation
import Logging
import NIOCore
import PelletStore
import PelletWire
import PostgresNIO

/// Keeps this node's LMDB copy of accounts and keys current with the cluster's database.
///
/// It LISTENs on the change channel, and on connecting and on every notification reads the
/// changes after the last one applied (`pellet_changes`, in sequence order) and applies them
/// in one LMDB transaction that also notes the sequence reached. A node that was down or cut
/// off catches up from that sequence when it connects again; notifications only say "look".
/// One that was away longer than the change log keeps its changes (``ClusterHousekeeping``
/// pruned some it never applied) loads a full snapshot of the accounts and keys instead.
/// While the database is unreachable it retries with a growing pause (up to 1 s: a refused
/// connection costs little, and a short pause catches up soon after the database is back) and
/// the node serves from its copy.
public final class ChangeFeed: Sendable {
    private let client: PostgresClient
    private let store: Store
    private let logger: Logger
    /// Called for each account a change deleted: its in-memory state (budget holds) goes too.
    private let accountDeleted: @Sendable (String) -> Void
    private let state: ChangeFeedState
    /// Whether the copy holds accounts made while the data directory ran alone, which are
    /// imported into the database before the first catch-up (``ClusterImport``).
    let importsLocalAccounts: Bool

    init(client: PostgresClient, store: Store, logger: Logger, accountDeleted: @escaping @Sendable (String) -> Void) throws {
        self.client = client
        self.store = store
        self.logger = logger
        self.accountDeleted = accountDeleted
        self.state = ChangeFeedState(applied: try store.replicatedSequence())
        self.importsLocalAccounts = try store.holdsUnreplicatedAccounts()
    }

    /// Why the feed stopped for good (the import of the local accounts was refused), if it did.
    public var failure: (any Error)? { state.failure }

    /// The sequence of the last change in this node's copy.
    public var appliedSequence: Int64 { state.applied }

    /// Whether the feed is connected and has caught up at least once since it (re)connected.
    public var isConnected: Bool { state.connected }

    /// Waits until the copy has the change `sequence` (true), or `timeout` passed (false).
    public func waitUntilApplied(_ sequence: Int64, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while state.applied < sequence {
            guard ContinuousClock.now < deadline else { return false }
            await state.waitForProgress(beyond: state.applied, until: deadline)
        }
        return true
    }

    /// Migrates the schema, imports the accounts and keys made while the data directory ran
    /// alone (if any), then follows the changes until the task is cancelled. A refused import
    /// stops it (``failure``): following the cluster would lose those accounts.
    func run() async {
        var pause = Duration.milliseconds(100)
        var migrated = false
        var imported = !importsLocalAccounts
        var outage = false
        while !Task.isCancelled {
            do {
                if !migrated {
                    let applied = try await ClusterSchema.migrate(client, logger: logger)
                    if !applied.isEmpty {
                        logger.info("cluster database migrated", metadata: ["cluster.migrations": "\(applied)"])
                    }
                    migrated = true
                }
                if !imported {
                    try await importLocalAccounts()
                    imported = true
                }
                try await client.withConnection { connection in
                    try await connection.listen(on: ClusterSchema.changeChannel) { notifications in
                        try await catchUp()
                        state.setConnected(true)
                        if outage {
                            logger.notice("cluster change feed connected again", metadata: ["cluster.sequence": "\(state.applied)"])
                            outage = false
                        }
                        pause = .milliseconds(100)
                        for try await _ in notifications {
                            try await catchUp()
                        }
                    }
                }
            } catch {
                guard !Task.isCancelled else { break }
                if let refusal = Self.unwrapped(error) as? ClusterImport.Refusal {
                    logger.critical("\(refusal)")
                    state.fail(refusal)
                    return
                }
                if !outage {
                    // Once an outage, not once a retry.
                    logger.warning(
                        "cluster database unreachable; serving accounts and keys from this node's copy until it returns: \(String(reflecting: error))",
                        metadata: ["cluster.sequence": "\(state.applied)"])
                    outage = true
                }
            }
            state.setConnected(false)
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(1))
        }
        state.setConnected(false)
    }

    private func importLocalAccounts() async throws {
        let local = try store.localAccountsAndKeys()
        let report = try await ClusterImport.run(local, client: client, logger: logger)
        logger.notice(
            "this data directory ran alone: its accounts and keys were imported into the cluster database",
            metadata: [
                "cluster.accounts_imported": "\(report.accountsImported)", "cluster.keys_imported": "\(report.keysImported)",
                "cluster.accounts_already_there": "\(report.accountsAlreadyThere)",
                "cluster.keys_already_there": "\(report.keysAlreadyThere)",
            ])
    }

    /// The error a transaction's body threw, rather than its wrapper.
    static func unwrapped(_ error: any Error) -> any Error {
        if let transaction = error as? PostgresTransactionError,
            let inner = transaction.closureError ?? transaction.beginError ?? transaction.commitError
        {
            return unwrapped(inner)
        }
        return error
    }

    /// Applies every change after the last one applied, a page at a time. A copy older than
    /// the changes the cluster still keeps (the node was away longer than the housekeeping's
    /// horizon, or it is new after a pruning) is replaced by a full snapshot first.
    private func catchUp() async throws {
        while true {
            let after = state.applied
            var changes: [ReplicatedChange] = []
            var prunedThrough: Int64 = 0
            // One statement, so one snapshot: the pruned mark and the page agree (a pruning
            // between two reads could otherwise skip changes unseen).
            let rows = try await client.query(
                """
                SELECT h.changes_pruned_through, c.sequence, c.kind, c.id, c.record, c.key_hash
                FROM pellet_housekeeping h LEFT JOIN LATERAL (
                    SELECT sequence, kind, id, record, key_hash FROM pellet_changes
                    WHERE sequence > \(after) ORDER BY sequence LIMIT 500
                ) c ON true
                """,
                logger: logger)
            for try await (pruned, sequence, kind, id, record, hash) in rows.decode(
                (Int64, Int64?, String?, String?, ByteBuffer?, ByteBuffer?).self)
            {
                prunedThrough = pruned
                guard let sequence, let kind, let id else { continue }
                changes.append(ReplicatedChange(sequence: sequence, kind: try Self.kind(kind, id, record, hash)))
            }
            if after < prunedThrough {
                try await resynchronize(missing: after, prunedThrough: prunedThrough)
                continue
            }
            guard let last = changes.last?.sequence else { return }
            for deleted in try await store.applyReplicated(changes) {
                accountDeleted(deleted)
            }
            state.advance(to: last)
        }
    }

    /// Replaces the copy's accounts and keys with the database's, read in one snapshot with
    /// the last change it includes.
    private func resynchronize(missing after: Int64, prunedThrough: Int64) async throws {
        let logger = self.logger
        logger.notice(
            "this node's copy is older than the oldest change the cluster keeps; loading every account and key",
            metadata: ["cluster.sequence": "\(after)", "cluster.pruned_through": "\(prunedThrough)"])
        let snapshot = try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
            // Changes commit in sequence order (each holds the change lock), so the snapshot has
            // every change up to the highest it sees.
            var sequence: Int64 = 0
            for try await value in try await connection.query(
                """
                SELECT greatest((SELECT coalesce(max(sequence), 0) FROM pellet_changes),
                    (SELECT changes_pruned_through FROM pellet_housekeeping))
                """,
                logger: logger
            ).decode(Int64.self) {
                sequence = value
            }
            var accounts: [Account] = []
            for try await record in try await connection.query("SELECT record FROM pellet_accounts", logger: logger)
                .decode(ByteBuffer.self)
            {
                accounts.append(try Account(decoding: record))
            }
            var keys: [ReplicatedSnapshot.Key] = []
            for try await (record, hash, lastUsed) in try await connection.query(
                "SELECT record, hash, last_used FROM pellet_keys", logger: logger
            ).decode((ByteBuffer, ByteBuffer, Int64).self) {
                var key = try ApiKey(decoding: record)
                key.lastUsedUnixMs = max(key.lastUsedUnixMs, UInt64(clamping: lastUsed))
                keys.append(ReplicatedSnapshot.Key(record: key, hash: Array(buffer: hash)))
            }
            return ReplicatedSnapshot(sequence: sequence, accounts: accounts, keys: keys)
        }
        let deleted = try await store.replaceReplicated(with: snapshot)
        for id in deleted {
            accountDeleted(id)
        }
        state.advance(to: snapshot.sequence)
        logger.notice(
            "this node's copy was replaced by the cluster's accounts and keys",
            metadata: [
                "cluster.sequence": "\(snapshot.sequence)", "cluster.accounts": "\(snapshot.accounts.count)",
                "cluster.keys": "\(snapshot.keys.count)", "cluster.accounts_deleted": "\(deleted.count)",
            ])
    }

    private static func kind(_ kind: String, _ id: String, _ record: ByteBuffer?, _ hash: ByteBuffer?) throws -> ReplicatedChange.Kind {
        switch (kind, record, hash) {
        case ("account_put", let record?, _):
            return .accountPut(try Account(decoding: record))
        case ("account_delete", _, _):
            return .accountDelete(id: id)
        case ("key_put", let record?, let hash?):
            return .keyPut(try ApiKey(decoding: record), hash: Array(buffer: hash))
        default:
            throw RPCError(.dataLoss, "a cluster change of kind \(kind) for \(id) lacks its record")
        }
    }
}

/// The feed's progress, shared with the calls that wait for it. An NSLock, as the project's
/// other shared state (ThreadSanitizer reports false races through Synchronization.Mutex).
private final class ChangeFeedState: @unchecked Sendable {
    private let lock = NSLock()
    private var _applied: Int64
    private var _connected = false
    private var _failure: (any Error)?
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(applied: Int64) { _applied = applied }

    var applied: Int64 { lock.withLock { _applied } }
    var connected: Bool { lock.withLock { _connected } }

    var failure: (any Error)? { lock.withLock { _failure } }

    func setConnected(_ connected: Bool) { lock.withLock { _connected = connected } }

    func fail(_ error: any Error) { lock.withLock { _failure = error } }

    func advance(to sequence: Int64) {
        let waiting = lock.withLock {
            _applied = max(_applied, sequence)
            defer { waiters = [] }
            return waiters
        }
        for waiter in waiting { waiter.resume() }
    }

    /// Returns when the applied sequence passes `sequence`, or soon after `deadline`.
    func waitForProgress(beyond sequence: Int64, until deadline: ContinuousClock.Instant) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let resumeNow = self.lock.withLock {
                        guard self._applied <= sequence else { return true }
                        self.waiters.append(continuation)
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
            group.addTask { try? await Task.sleep(until: deadline) }
            await group.next()
            // Wake the waiter if the deadline came first, so the group can finish.
            self.advance(to: Int64.min)
            group.cancelAll()
        }
    }
}
