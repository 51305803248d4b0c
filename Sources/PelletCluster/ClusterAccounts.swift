import Logging
import NIOCore
import PelletServer
import PelletStore
import PelletWire
import PostgresNIO

/// Account and key changes in cluster mode: written to PostgreSQL first (its unique
/// constraints decide, so two nodes cannot give one email to two accounts), each with a change
/// row that every node's ``ChangeFeed`` applies to its LMDB copy. A call answers once this
/// node's copy has the change, so a key created here authenticates here at once.
///
/// The same validation as the single-node store (``Store/proposedAccount(_:)`` and friends),
/// the same messages for the same mistakes.
public final class ClusterAccounts: AccountWrites {
    private let client: PostgresClient
    private let store: Store
    private let feed: ChangeFeed
    private let logger: Logger
    /// How long an answered change may take to reach this node's copy before the call answers
    /// anyway (the change is committed in the database; the copy catches up when it can).
    private let appliedTimeout: Duration
    /// How long a change may wait for the database before the call answers UNAVAILABLE.
    private let databaseTimeout: Duration

    init(
        client: PostgresClient, store: Store, feed: ChangeFeed, logger: Logger,
        appliedTimeout: Duration = .seconds(5), databaseTimeout: Duration = .seconds(5)
    ) {
        self.databaseTimeout = databaseTimeout
        self.client = client
        self.store = store
        self.feed = feed
        self.logger = logger
        self.appliedTimeout = appliedTimeout
    }

    public func createAccount(_ account: Account) async throws -> Account {
        let record = try store.proposedAccount(account)
        return try await commit(naming: record) { connection, logger in
            try await connection.query(
                """
                INSERT INTO pellet_accounts (id, email_key, oauth_key, record)
                VALUES (\(record.id), \(Store.emailIndexKey(record.email)), \(Store.oauthIndexKey(record)), \(Self.bytes(record)))
                """,
                logger: logger)
            return (record, [.accountPut(record)])
        }
    }

    public func updateAccount(_ changes: Account) async throws -> Account {
        try await commit(naming: changes) { connection, logger in
            let current = try await Self.lockedAccount(changes.id, connection, logger)
            let updated = try Store.updatedAccount(current, with: changes)
            try await connection.query(
                """
                UPDATE pellet_accounts
                SET email_key = \(Store.emailIndexKey(updated.email)), oauth_key = \(Store.oauthIndexKey(updated)),
                    record = \(Self.bytes(updated))
                WHERE id = \(updated.id)
                """,
                logger: logger)
            return (updated, [.accountPut(updated)])
        }
    }

    public func deleteAccount(id: String) async throws -> Account {
        try await commit { connection, logger in
            let account = try await Self.lockedAccount(id, connection, logger)
            // Its keys go with it (ON DELETE CASCADE); each node deletes its own rows of the
            // account (keys, usage, records) when it applies the change.
            try await connection.query("DELETE FROM pellet_accounts WHERE id = \(id)", logger: logger)
            // And its shipped metering (a shipper's insert holds the account row, so none lands
            // after this).
            try await connection.query("DELETE FROM pellet_requests WHERE account_id = \(id)", logger: logger)
            return (account, [.accountDelete(id: id)])
        }
    }

    public func createKey(accountID: String, name: String) async throws -> (plaintext: String, record: ApiKey) {
        let (plaintext, record, hash) = try store.proposedKey(accountID: accountID, name: name)
        let stored = try await commit { connection, logger in
            // FOR KEY SHARE: a deletion of the account waits for this key, then removes it too.
            let exists = try await connection.query(
                "SELECT 1 FROM pellet_accounts WHERE id = \(accountID) FOR KEY SHARE", logger: logger
            ).collect()
            guard !exists.isEmpty else { throw RPCError(.notFound, "no account has id \(accountID)") }
            try await connection.query(
                """
                INSERT INTO pellet_keys (id, account_id, hash, record)
                VALUES (\(record.id), \(accountID), \(ByteBuffer(bytes: hash)), \(Self.bytes(record)))
                """,
                logger: logger)
            return (record, [.keyPut(record, hash: hash)])
        }
        return (plaintext, stored)
    }

    public func revokeKey(id: String) async throws -> ApiKey {
        let now = store.now
        return try await commit { connection, logger in
            let rows = try await connection.query(
                "SELECT record, hash, last_used FROM pellet_keys WHERE id = \(id) FOR UPDATE", logger: logger
            ).collect()
            guard let row = rows.first else { throw RPCError(.notFound, "no API key has id \(id)") }
            let (recordBytes, hashBytes, lastUsed) = try row.decode((ByteBuffer, ByteBuffer, Int64).self)
            var record = try ApiKey(decoding: recordBytes)
            // The record keeps the use it was created with; the cluster's last use is beside it.
            record.lastUsedUnixMs = max(record.lastUsedUnixMs, UInt64(clamping: lastUsed))
            // Revoking again keeps the first time, and changes nothing.
            guard record.revokedUnixMs == 0 else { return (record, []) }
            record.revokedUnixMs = now
            try await connection.query(
                "UPDATE pellet_keys SET record = \(Self.bytes(record)) WHERE id = \(id)", logger: logger)
            return (record, [.keyPut(record, hash: Array(buffer: hashBytes))])
        }
    }

    /// Runs `body` in a transaction that holds the change lock, appends its changes to
    /// `pellet_changes`, announces the last one on the change channel (delivered at commit),
    /// and waits until this node's copy has it. `naming` is the account whose email or OAuth
    /// identity a unique-constraint refusal names.
    private func commit<Value: Sendable>(
        naming account: Account? = nil,
        _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> (Value, [ReplicatedChange.Kind])
    ) async throws -> Value {
        let logger = self.logger
        let client = self.client
        let (value, lastSequence): (Value, Int64?)
        do {
            (value, lastSequence) = try await within(databaseTimeout, orThrow: { [databaseTimeout] in
                RPCError(
                    .unavailable,
                    "the cluster database cannot be reached (no connection within \(databaseTimeout)), so accounts and keys cannot change now; authentication goes on from this node's copy"
                )
            }) {
                try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(ClusterSchema.changeLock))", logger: logger)
                let (value, changes) = try await body(connection, logger)
                var last: Int64?
                for change in changes {
                    last = try await Self.append(change, connection, logger)
                }
                if let last {
                    try await connection.query(
                        "SELECT pg_notify(\(ClusterSchema.changeChannel), \(String(last)))", logger: logger)
                }
                return (value, last)
                }
            }
        } catch {
            throw Self.callerError(error, naming: account)
        }
        if let lastSequence, !(await feed.waitUntilApplied(lastSequence, timeout: appliedTimeout)) {
            logger.warning(
                "an account change is committed in the cluster database but not yet in this node's copy",
                metadata: ["cluster.sequence": "\(lastSequence)"])
        }
        return value
    }

    private static func append(_ change: ReplicatedChange.Kind, _ connection: PostgresConnection, _ logger: Logger) async throws -> Int64 {
        let query: PostgresQuery
        switch change {
        case .accountPut(let account):
            query = "INSERT INTO pellet_changes (kind, id, record) VALUES ('account_put', \(account.id), \(bytes(account))) RETURNING sequence"
        case .accountDelete(let id):
            query = "INSERT INTO pellet_changes (kind, id) VALUES ('account_delete', \(id)) RETURNING sequence"
        case .keyPut(let key, let hash):
            query = "INSERT INTO pellet_changes (kind, id, record, key_hash) VALUES ('key_put', \(key.id), \(bytes(key)), \(ByteBuffer(bytes: hash))) RETURNING sequence"
        }
        for try await sequence in try await connection.query(query, logger: logger).decode(Int64.self) {
            return sequence
        }
        throw RPCError(.internal, "the cluster database returned no sequence for a change")
    }

    private static func lockedAccount(_ id: String, _ connection: PostgresConnection, _ logger: Logger) async throws -> Account {
        for try await record in try await connection.query(
            "SELECT record FROM pellet_accounts WHERE id = \(id) FOR UPDATE", logger: logger
        ).decode(ByteBuffer.self) {
            return try Account(decoding: record)
        }
        throw RPCError(.notFound, "no account has id \(id)")
    }

    static func bytes(_ message: some WireMessage) -> ByteBuffer {
        var buffer = ByteBuffer()
        message.encode(into: &buffer)
        return buffer
    }

    /// What the caller is told: the rule a change broke, or that the database cannot be reached.
    static func callerError(_ error: any Error, naming account: Account? = nil) -> RPCError {
        if let transaction = error as? PostgresTransactionError {
            if let inner = transaction.closureError ?? transaction.beginError ?? transaction.commitError {
                return callerError(inner, naming: account)
            }
        }
        if let error = error as? RPCError { return error }
        if let error = error as? StoreError { return RPCError(storeError: error) }
        if let error = error as? PSQLError {
            if error.serverInfo?[.sqlState] == "23505" {
                let constraint = error.serverInfo?[.constraintName] ?? ""
                // The single-node store's messages for the same refusals.
                if constraint.contains("email") {
                    return RPCError(.alreadyExists, "an account with email \(account?.email ?? "this email") already exists")
                }
                if constraint.contains("oauth") {
                    let identity = account.map { "\($0.oauthProvider) identity \($0.oauthSubject)" } ?? "this OAuth identity"
                    return RPCError(.alreadyExists, "an account with \(identity) already exists")
                }
                return RPCError(.alreadyExists, "the change conflicts with an existing record (\(constraint))")
            }
            if let message = error.serverInfo?[.message] {
                return RPCError(.internal, "the cluster database refused the change: \(message)")
            }
        }
        return RPCError(
            .unavailable,
            "the cluster database cannot be reached, so accounts and keys cannot change now (authentication goes on from this node's copy): \(String(reflecting: error))"
        )
    }
}
