import PelletWire

/// Every account and key of a cluster's database as of one change sequence: what a node whose
/// copy is older than the oldest change the cluster still keeps (the housekeeping pruned the
/// ones it missed) loads instead of those changes.
public struct ReplicatedSnapshot: Sendable, Equatable {
    public struct Key: Sendable, Equatable {
        public let record: ApiKey
        /// The SHA-256 of its plaintext, which the record is stored under.
        public let hash: [UInt8]

        public init(record: ApiKey, hash: [UInt8]) {
            self.record = record
            self.hash = hash
        }
    }

    /// The last change the snapshot includes.
    public let sequence: Int64
    public let accounts: [Account]
    public let keys: [Key]

    public init(sequence: Int64, accounts: [Account], keys: [Key]) {
        self.sequence = sequence
        self.accounts = accounts
        self.keys = keys
    }
}

extension Store {
    /// Makes this copy's accounts and keys exactly `snapshot`'s, in one transaction with the
    /// applied sequence set to the snapshot's: an account the snapshot lacks is deleted with
    /// everything held for it (as a replicated deletion is), a key it lacks is deleted, every
    /// account and key it has is written as it is there (a revoked key stays revoked). Returns
    /// the ids of the accounts deleted, whose in-memory state the caller drops.
    @discardableResult
    public func replaceReplicated(with snapshot: ReplicatedSnapshot) async throws -> [String] {
        let tables = self.tables
        let scopedTables = registry.all
        let accounts = AccountsTable(tables: tables)
        let (deleted, deletedKeyIDs) = try await write { transaction in
            let keptAccounts = Set(snapshot.accounts.map(\.id))
            let keptKeys = Set(snapshot.keys.map(\.record.id))
            var localAccounts: [String] = []
            try transaction.scan(tables.accounts, from: [UInt8]()) { key, _ in
                localAccounts.append(String(decoding: key, as: UTF8.self))
                return true
            }
            var deleted: [String] = []
            var deletedKeyIDs: [String] = []
            for id in localAccounts where !keptAccounts.contains(id) {
                deletedKeyIDs += try KeysTable(tables: tables).keyIDs(of: id, in: transaction.reader)
                for table in scopedTables.reversed() {
                    try table.deleteAll(accountID: id, in: transaction)
                }
                deleted.append(id)
            }
            // Keys of accounts that remain but that the database no longer has (none should be,
            // as keys are never deleted alone; the copy follows the database regardless).
            var strayKeys: [(id: String, hash: [UInt8])] = []
            try transaction.scan(tables.keysByID, from: [UInt8]()) { key, value in
                let id = String(decoding: key, as: UTF8.self)
                if !keptKeys.contains(id) { strayKeys.append((id, Array(value))) }
                return true
            }
            for stray in strayKeys {
                if let record = try transaction.message(ApiKey.self, tables.keys, key: stray.hash) {
                    try transaction.delete(tables.accountKeys, key: AccountScope.key(record.accountId, record.id))
                }
                try transaction.delete(tables.keys, key: stray.hash)
                try transaction.delete(tables.keysByID, key: stray.id)
                deletedKeyIDs.append(stray.id)
            }
            for account in snapshot.accounts {
                if let current = try transaction.message(Account.self, tables.accounts, key: account.id) {
                    try accounts.deleteIndexes(of: current, in: transaction)
                }
                try accounts.insertIndexes(of: account, in: transaction, replacingOthers: true)
                try transaction.put(tables.accounts, key: account.id, message: account)
            }
            for key in snapshot.keys {
                var record = key.record
                // A later use this copy knows of is kept.
                if let current = try transaction.message(ApiKey.self, tables.keys, key: key.hash) {
                    record.lastUsedUnixMs = max(record.lastUsedUnixMs, current.lastUsedUnixMs)
                }
                try transaction.put(tables.keys, key: key.hash, message: record)
                try transaction.put(tables.keysByID, key: key.record.id, value: key.hash)
                try transaction.put(
                    tables.accountKeys, key: AccountScope.key(key.record.accountId, key.record.id), value: [UInt8]())
            }
            try transaction.put(tables.replication, key: Self.appliedSequenceKey, value: snapshot.sequence.bigEndianBytes)
            return (deleted, deletedKeyIDs)
        }
        if !deletedKeyIDs.isEmpty {
            keyTouches.withLock { touches in
                for keyID in deletedKeyIDs { touches[keyID] = nil }
            }
        }
        return deleted
    }
}

extension Store {
    /// Whether this copy holds accounts no cluster gave it: it has applied no replicated change
    /// yet but has accounts, so they were made while the data directory ran alone (the cluster
    /// link imports them before it follows the cluster's changes).
    public func holdsUnreplicatedAccounts() throws -> Bool {
        guard try replicatedSequence() == 0 else { return false }
        let tables = self.tables
        return try read { transaction in
            var any = false
            try transaction.scan(tables.accounts, from: [UInt8]()) { _, _ in
                any = true
                return false
            }
            return any
        }
    }

    /// Every account and key of this copy, keys with the SHA-256 they are stored under (the
    /// sequence is the copy's applied one): what a data directory that ran alone brings into a
    /// cluster.
    public func localAccountsAndKeys() throws -> ReplicatedSnapshot {
        let tables = self.tables
        return try read { transaction in
            var accounts: [Account] = []
            try transaction.scan(tables.accounts, from: [UInt8]()) { _, value in
                accounts.append(try Account(decoding: value))
                return true
            }
            var hashes: [[UInt8]] = []
            try transaction.scan(tables.keysByID, from: [UInt8]()) { _, value in
                hashes.append(Array(value))
                return true
            }
            let keys = try hashes.compactMap { hash in
                try transaction.message(ApiKey.self, tables.keys, key: hash).map { ReplicatedSnapshot.Key(record: $0, hash: hash) }
            }
            var sequence: Int64 = 0
            if let bytes = try transaction.bytes(tables.replication, key: Self.appliedSequenceKey), bytes.count == 8 {
                sequence = Int64(bigEndianBytes: bytes)
            }
            return ReplicatedSnapshot(sequence: sequence, accounts: accounts, keys: keys)
        }
    }
}
