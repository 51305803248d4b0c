import Logging
import PostgresNIO

/// The cluster's tables in PostgreSQL, created and migrated by pelletd itself.
///
/// Migrations are numbered and append-only: a released one never changes, a new one is added
/// at the end. Each node runs the missing ones at start-up inside one transaction holding an
/// advisory lock, so nodes starting at once apply each migration exactly once.
enum ClusterSchema {
    /// `pg_advisory_xact_lock` keys; any fixed 64-bit numbers unlikely to clash with other users
    /// of the same database ("pellet" in ASCII, then 1, 2).
    static let migrationLock: Int64 = 0x7065_6C6C_6574_0001
    /// Held by every account change's transaction: changes commit in the order of their
    /// sequence numbers, so a node that has applied sequence N never later sees a change below N.
    static let changeLock: Int64 = 0x7065_6C6C_6574_0002
    /// The NOTIFY channel on which a committed change's sequence is announced.
    static let changeChannel = "pellet_changes"

    static let migrations: [(version: Int, statements: [PostgresQuery])] = [
        (
            1,
            [
                // The records are the protobuf encodings of the wire's Account and ApiKey, as in
                // LMDB; the columns beside them carry the uniqueness rules and the references.
                """
                CREATE TABLE pellet_accounts (
                    id text PRIMARY KEY,
                    email_key text NOT NULL UNIQUE,
                    oauth_key text UNIQUE,
                    record bytea NOT NULL
                )
                """,
                """
                CREATE TABLE pellet_keys (
                    id text PRIMARY KEY,
                    account_id text NOT NULL REFERENCES pellet_accounts (id) ON DELETE CASCADE,
                    hash bytea NOT NULL UNIQUE,
                    record bytea NOT NULL
                )
                """,
                // Every node applies these in sequence order to its LMDB copy.
                """
                CREATE TABLE pellet_changes (
                    sequence bigserial PRIMARY KEY,
                    kind text NOT NULL CHECK (kind IN ('account_put', 'account_delete', 'key_put')),
                    id text NOT NULL,
                    record bytea,
                    key_hash bytea,
                    committed_at timestamptz NOT NULL DEFAULT now()
                )
                """,
            ]
        )
    ]

    /// Applies the migrations this database lacks; returns the versions applied.
    @discardableResult
    static func migrate(_ client: PostgresClient, logger: Logger) async throws -> [Int] {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLock))", logger: logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS pellet_schema_migrations (
                    version integer PRIMARY KEY,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                logger: logger)
            var applied: Set<Int> = []
            for try await version in try await connection.query(
                "SELECT version FROM pellet_schema_migrations", logger: logger
            ).decode(Int.self) {
                applied.insert(version)
            }
            var new: [Int] = []
            for migration in migrations where !applied.contains(migration.version) {
                for statement in migration.statements {
                    try await connection.query(statement, logger: logger)
                }
                try await connection.query(
                    "INSERT INTO pellet_schema_migrations (version) VALUES (\(migration.version))", logger: logger)
                new.append(migration.version)
            }
            return new
        }
    }
}
