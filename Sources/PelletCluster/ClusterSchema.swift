import Foundation
import Logging
import PelletStore
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
    /// Held while a shipper creates day partitions of `pellet_requests`.
    static let partitionLock: Int64 = 0x7065_6C6C_6574_0003
    /// Held (for the session, tried, never waited for) by the one node that runs the cluster's
    /// housekeeping at a time (``ClusterHousekeeping``).
    static let housekeepingLock: Int64 = 0x7065_6C6C_6574_0004
    /// Held by every report of keys' uses (``KeyUseSync``): their `use_sequence` numbers commit
    /// in order, so a node that has read up to N never later sees a report below N.
    static let keyUseLock: Int64 = 0x7065_6C6C_6574_0005

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
        ),
        (
            2,
            [
                // Every node's metering events (MeteringShipper), one partition per UTC day
                // (pellet_requests_YYYYMMDD, made by the shippers ahead of time), so that
                // retention drops whole partitions. Unique by account, time and request id: a
                // batch sent twice adds nothing. Never any prompt or completion text.
                """
                CREATE TABLE pellet_requests (
                    account_id text NOT NULL,
                    unix_ms bigint NOT NULL,
                    request_id text NOT NULL,
                    key_id text NOT NULL,
                    task_type text NOT NULL,
                    model text NOT NULL,
                    provider text NOT NULL,
                    prompt_tokens bigint NOT NULL,
                    completion_tokens bigint NOT NULL,
                    cached_prompt_tokens bigint NOT NULL,
                    tokens_estimated boolean NOT NULL,
                    cost_micro_usd bigint NOT NULL,
                    latency_ms bigint NOT NULL,
                    time_to_first_token_ms bigint NOT NULL,
                    status bigint NOT NULL,
                    attempts bigint NOT NULL,
                    PRIMARY KEY (account_id, unix_ms, request_id)
                ) PARTITION BY RANGE (unix_ms)
                """,
            ]
        ),
        (
            3,
            [
                // Each node's share of an account's budget for a month (BudgetLeases): `granted`
                // is what the node may have spent plus held that month (its spend included),
                // `spent` its spend plus holds as it last reported. The sum of `granted` over an
                // account's month never passes its budget. A lease not renewed by
                // `expires_at` is cut back to `spent` by the next node that leases.
                """
                CREATE TABLE pellet_budget_leases (
                    account_id text NOT NULL REFERENCES pellet_accounts (id) ON DELETE CASCADE,
                    month integer NOT NULL,
                    node_id text NOT NULL,
                    granted bigint NOT NULL,
                    spent bigint NOT NULL,
                    expires_at timestamptz NOT NULL,
                    PRIMARY KEY (account_id, month, node_id)
                )
                """,
                // Calls of an account's rate limit handed out in a minute (RateLeases), the
                // minute by the database's clock: `taken` never passes the limit.
                """
                CREATE TABLE pellet_rate_windows (
                    account_id text NOT NULL REFERENCES pellet_accounts (id) ON DELETE CASCADE,
                    minute bigint NOT NULL,
                    taken integer NOT NULL,
                    last_grant integer NOT NULL,
                    PRIMARY KEY (account_id, minute)
                )
                """,
            ]
        ),
        (
            4,
            [
                // What the housekeeping (ClusterHousekeeping) has removed, one row: the last change
                // pruned from pellet_changes (a node that applied less resynchronizes from a full
                // snapshot) and the first UTC day pellet_requests still keeps (no shipper creates a
                // partition before it again).
                """
                CREATE TABLE pellet_housekeeping (
                    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                    changes_pruned_through bigint NOT NULL DEFAULT 0,
                    requests_kept_from_day integer NOT NULL DEFAULT 0
                )
                """,
                "INSERT INTO pellet_housekeeping DEFAULT VALUES",
            ]
        ),
        (
            5,
            [
                // A key's last use on any node (KeyUseSync): raised by the nodes' batched reports,
                // each raise numbered from the sequence, so that every node reads the raises it
                // has not seen yet in order.
                """
                ALTER TABLE pellet_keys
                    ADD COLUMN last_used bigint NOT NULL DEFAULT 0,
                    ADD COLUMN use_sequence bigint NOT NULL DEFAULT 0
                """,
                "CREATE SEQUENCE pellet_key_use_sequence",
                "CREATE INDEX pellet_keys_use_sequence ON pellet_keys (use_sequence) WHERE use_sequence > 0",
            ]
        ),
    ]

    /// `CREATE TABLE IF NOT EXISTS` of the partition of `pellet_requests` holding the UTC day
    /// `day` (days since 1970-01-01). Only integers go into the text.
    static func requestPartition(day: UInt32) -> PostgresQuery {
        let name = requestPartitionName(day: day)
        let start = UsageCalendar.startOfDay(day)
        let end = start + UsageCalendar.millisecondsPerDay
        return PostgresQuery(
            unsafeSQL:
                "CREATE TABLE IF NOT EXISTS \(name) PARTITION OF pellet_requests FOR VALUES FROM (\(start)) TO (\(end))")
    }

    /// `pellet_requests_YYYYMMDD` of the UTC day `day`.
    static func requestPartitionName(day: UInt32) -> String {
        let (year, month, dayOfMonth) = UsageCalendar.date(ofDay: day)
        return "pellet_requests_" + String(format: "%04d%02d%02d", year, month, dayOfMonth)
    }

    /// The UTC day a partition named `pellet_requests_YYYYMMDD` holds; nil for another name.
    static func requestPartitionDay(name: String) -> UInt32? {
        let prefix = "pellet_requests_"
        guard name.hasPrefix(prefix) else { return nil }
        let digits = name.dropFirst(prefix.count)
        guard digits.count == 8, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(digits) else { return nil }
        let (year, month, day) = (number / 10_000, number / 100 % 100, number % 100)
        guard (1970...9999).contains(year), (1...12).contains(month), (1...31).contains(day) else { return nil }
        let found = UsageCalendar.day(year: year, month: month, day: day)
        // 20260231 is no day: it must name itself back.
        return requestPartitionName(day: found) == name ? found : nil
    }

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
