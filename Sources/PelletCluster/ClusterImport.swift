import Logging
import NIOCore
import PelletStore
import PelletWire
import PostgresNIO

/// Brings a data directory that ran alone into the cluster: its accounts and keys (made while
/// it had no `--database-url`, so only in its LMDB) are written to the cluster's database on
/// its first start in cluster mode, before its copy follows the cluster's changes, which would
/// otherwise drop them at the first full resynchronization.
///
/// All or nothing, in one transaction holding the change lock, with a change row for each
/// account and key (so every node applies them). Idempotent: an account or key whose id the
/// database already has is this one, imported before (ids are random, 95 bits), and is left as
/// the database has it; a node stopped between the import and applying it imports nothing the
/// second time. An account whose email or OAuth identity another account in the database has,
/// or a key whose hash another key has, refuses the whole import (``Refusal``): pelletd then
/// does not start, and says which accounts and what to do.
enum ClusterImport {
    /// The import cannot go ahead: these local records clash with the database's.
    struct Refusal: Error, CustomStringConvertible {
        let conflicts: [String]

        var description: String {
            let shown = conflicts.prefix(10).joined(separator: "; ")
            let more = conflicts.count > 10 ? " (and \(conflicts.count - 10) more)" : ""
            return
                "this data directory ran without --database-url and holds accounts or keys that clash with the cluster database's, so none were imported: \(shown)\(more). Nothing was changed. Start pelletd on this directory without --database-url and change or delete the clashing accounts (pelletctl account update / delete), or delete them in the cluster, then start it in cluster mode again"
        }
    }

    struct Report: Sendable, Equatable {
        var accountsImported = 0
        var keysImported = 0
        /// Already in the database (imported before): left as they are there.
        var accountsAlreadyThere = 0
        var keysAlreadyThere = 0
    }

    /// Imports `local` (the copy's accounts and keys) into the database.
    static func run(_ local: ReplicatedSnapshot, client: PostgresClient, logger: Logger) async throws -> Report {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(ClusterSchema.changeLock))", logger: logger)
            var report = Report()

            var existingAccounts: [String: ByteBuffer] = [:]
            for try await (id, record) in try await connection.query(
                "SELECT id, record FROM pellet_accounts WHERE id = ANY(\(local.accounts.map(\.id)))", logger: logger
            ).decode((String, ByteBuffer).self) {
                existingAccounts[id] = record
            }
            let accounts = local.accounts.filter { existingAccounts[$0.id] == nil }
            for account in local.accounts {
                guard let there = existingAccounts[account.id] else { continue }
                report.accountsAlreadyThere += 1
                if there != ClusterAccounts.bytes(account) {
                    logger.warning(
                        "an account of this data directory is in the cluster database already, changed there; the database's version is kept",
                        metadata: ["account": "\(account.id)"])
                }
            }
            var existingKeys: Set<String> = []
            for try await id in try await connection.query(
                "SELECT id FROM pellet_keys WHERE id = ANY(\(local.keys.map(\.record.id)))", logger: logger
            ).decode(String.self) {
                existingKeys.insert(id)
            }
            let keys = local.keys.filter { !existingKeys.contains($0.record.id) }
            report.keysAlreadyThere = local.keys.count - keys.count

            let ids = accounts.map(\.id)
            let emails = accounts.map { Store.emailIndexKey($0.email) }
            let oauths = accounts.map { Store.oauthIndexKey($0) ?? "" }
            let records = accounts.map { ClusterAccounts.bytes($0) }
            let keyIDs = keys.map(\.record.id)
            let keyAccounts = keys.map(\.record.accountId)
            let hashes = keys.map { ByteBuffer(bytes: $0.hash) }
            let keyRecords = keys.map { ClusterAccounts.bytes($0.record) }
            let lastUsed = keys.map { Int64(clamping: $0.record.lastUsedUnixMs) }

            var conflicts: [String] = []
            for try await (local, other, email, sameEmail) in try await connection.query(
                """
                SELECT u.id, a.id, u.email, a.email_key = u.email_key
                FROM unnest(\(ids)::text[], \(emails)::text[], \(oauths)::text[], \(accounts.map(\.email))::text[])
                    AS u (id, email_key, oauth_key, email)
                JOIN pellet_accounts a ON a.email_key = u.email_key OR a.oauth_key = NULLIF(u.oauth_key, '')
                ORDER BY u.id
                """,
                logger: logger
            ).decode((String, String, String, Bool).self) {
                conflicts.append(
                    sameEmail
                        ? "account \(local) has email \(email), which account \(other) in the cluster has"
                        : "account \(local) has the OAuth identity of account \(other) in the cluster")
            }
            for try await (local, other) in try await connection.query(
                """
                SELECT u.id, k.id FROM unnest(\(keyIDs)::text[], \(hashes)::bytea[]) AS u (id, hash)
                JOIN pellet_keys k ON k.hash = u.hash ORDER BY u.id
                """,
                logger: logger
            ).decode((String, String).self) {
                conflicts.append("API key \(local) is the same key as \(other) in the cluster")
            }
            guard conflicts.isEmpty else { throw Refusal(conflicts: conflicts) }
            guard !accounts.isEmpty || !keys.isEmpty else { return report }

            try await connection.query(
                """
                INSERT INTO pellet_accounts (id, email_key, oauth_key, record)
                SELECT id, email_key, NULLIF(oauth_key, ''), record
                FROM unnest(\(ids)::text[], \(emails)::text[], \(oauths)::text[], \(records)::bytea[])
                    AS u (id, email_key, oauth_key, record)
                """,
                logger: logger)
            // The key's last use goes beside it, where the cluster keeps it (KeyUseSync).
            try await connection.query(
                """
                INSERT INTO pellet_keys (id, account_id, hash, record, last_used)
                SELECT * FROM unnest(
                    \(keyIDs)::text[], \(keyAccounts)::text[], \(hashes)::bytea[], \(keyRecords)::bytea[], \(lastUsed)::bigint[])
                """,
                logger: logger)
            // Accounts before keys, in one order, as ClusterAccounts appends them.
            try await connection.query(
                """
                INSERT INTO pellet_changes (kind, id, record)
                SELECT 'account_put', id, record FROM unnest(\(ids)::text[], \(records)::bytea[]) WITH ORDINALITY AS u (id, record, n)
                ORDER BY n
                """,
                logger: logger)
            try await connection.query(
                """
                INSERT INTO pellet_changes (kind, id, record, key_hash)
                SELECT 'key_put', id, record, hash
                FROM unnest(\(keyIDs)::text[], \(keyRecords)::bytea[], \(hashes)::bytea[]) WITH ORDINALITY AS u (id, record, hash, n)
                ORDER BY n
                """,
                logger: logger)
            try await connection.query(
                "SELECT pg_notify(\(ClusterSchema.changeChannel), (SELECT max(sequence) FROM pellet_changes)::text)",
                logger: logger)
            report.accountsImported = accounts.count
            report.keysImported = keys.count
            return report
        }
    }
}
