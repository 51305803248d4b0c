import PelletWire

/// A change to accounts and keys written to a cluster's database (by any node), which each
/// node applies to its own copy in the order of `sequence` (DESIGN.md section 5: PostgreSQL is
/// the truth, LMDB the local copy that authentication reads).
public struct ReplicatedChange: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The account as it now is (created or updated).
        case accountPut(Account)
        /// The account and everything held for it are gone.
        case accountDelete(id: String)
        /// The key as it now is (created or revoked), under the SHA-256 of its plaintext.
        case keyPut(ApiKey, hash: [UInt8])
    }

    /// The change's place in the cluster's one order of changes; increasing, with gaps.
    public let sequence: Int64
    public let kind: Kind

    public init(sequence: Int64, kind: Kind) {
        self.sequence = sequence
        self.kind = kind
    }
}

extension Store {
    /// A new account as ``createAccount(_:)`` would store it (defaults filled in, rules checked,
    /// a fresh id and the creation time), for a cluster to write to its database first.
    public func proposedAccount(_ account: Account) throws -> Account {
        var record = try AccountValidation.validatedForCreate(account)
        record.id = RandomIdentifier.accountID()
        record.createdUnixMs = configuration.now()
        return record
    }

    /// `current` with the set fields of `changes` merged in, as ``updateAccount(_:)`` would
    /// store it, or the first rule the result breaks.
    public static func updatedAccount(_ current: Account, with changes: Account) throws -> Account {
        try AccountValidation.validateUpdate(changes)
        var updated = current
        updated.merge(changes)
        try AccountValidation.validateOAuthPair(of: updated)
        return updated
    }

    /// A new key as ``createKey(accountID:name:)`` would make it: the plaintext (shown once,
    /// never stored), its record and the SHA-256 the record is stored under.
    public func proposedKey(accountID: String, name: String) throws -> (plaintext: String, record: ApiKey, hash: [UInt8]) {
        guard name.count <= Self.maximumKeyNameLength else {
            throw StoreError.invalidArgument("a key name must be at most \(Self.maximumKeyNameLength) characters")
        }
        let plaintext = RandomIdentifier.apiKey()
        let record = ApiKey(
            id: RandomIdentifier.keyID(),
            accountId: accountID,
            name: name,
            prefix: String(plaintext.prefix(12)),
            createdUnixMs: configuration.now()
        )
        return (plaintext, record, Self.keyHash(plaintext: plaintext))
    }

    /// The revocation time a key revoked now gets.
    public var now: UInt64 { configuration.now() }

    /// The sequence of the last replicated change applied to this copy; 0 before the first.
    public func replicatedSequence() throws -> Int64 {
        let tables = self.tables
        return try read { transaction in
            guard let bytes = try transaction.bytes(tables.replication, key: Self.appliedSequenceKey), bytes.count == 8
            else { return 0 }
            return Int64(bigEndianBytes: bytes)
        }
    }

    /// Applies `changes` (in sequence order) and notes the last one's sequence, in one
    /// transaction: a crash applies all of them or none, and the next catch-up starts after the
    /// last one applied. A change at or below the noted sequence is skipped, so applying a batch
    /// twice changes nothing. Returns the ids of the accounts deleted, whose in-memory state
    /// (budget holds, cached spend) the caller drops.
    @discardableResult
    public func applyReplicated(_ changes: [ReplicatedChange]) async throws -> [String] {
        guard let last = changes.last?.sequence else { return [] }
        let tables = self.tables
        let scopedTables = registry.all
        let accounts = AccountsTable(tables: tables)
        let keys = KeysTable(tables: tables)
        let (deleted, deletedKeyIDs) = try await write { transaction in
            var applied: Int64 = 0
            if let bytes = try transaction.bytes(tables.replication, key: Self.appliedSequenceKey), bytes.count == 8 {
                applied = Int64(bigEndianBytes: bytes)
            }
            var deleted: [String] = []
            var deletedKeyIDs: [String] = []
            for change in changes where change.sequence > applied {
                switch change.kind {
                case .accountPut(let account):
                    if let current = try transaction.message(Account.self, tables.accounts, key: account.id) {
                        try accounts.deleteIndexes(of: current, in: transaction)
                    }
                    // The database's unique constraints decided; an index entry still naming
                    // another account here is stale (its change comes later) and is replaced.
                    try accounts.insertIndexes(of: account, in: transaction, replacingOthers: true)
                    try transaction.put(tables.accounts, key: account.id, message: account)
                case .accountDelete(let id):
                    guard try transaction.contains(tables.accounts, key: id) else { continue }
                    deletedKeyIDs += try keys.keyIDs(of: id, in: transaction.reader)
                    for table in scopedTables.reversed() {
                        try table.deleteAll(accountID: id, in: transaction)
                    }
                    deleted.append(id)
                case .keyPut(var key, let hash):
                    // The database's record carries the last use it knew of; this copy may know
                    // of a later one (its own, or another node's already read).
                    if let current = try transaction.message(ApiKey.self, tables.keys, key: hash) {
                        key.lastUsedUnixMs = max(key.lastUsedUnixMs, current.lastUsedUnixMs)
                    }
                    try transaction.put(tables.keys, key: hash, message: key)
                    try transaction.put(tables.keysByID, key: key.id, value: hash)
                    try transaction.put(tables.accountKeys, key: AccountScope.key(key.accountId, key.id), value: [UInt8]())
                }
            }
            if last > applied {
                try transaction.put(tables.replication, key: Self.appliedSequenceKey, value: last.bigEndianBytes)
            }
            return (deleted, deletedKeyIDs)
        }
        if !deletedKeyIDs.isEmpty {
            keyTouches.withLock { touches in
                for keyID in deletedKeyIDs { touches[keyID] = nil }
            }
        }
        return deleted
    }

    static let appliedSequenceKey = "applied_sequence"
}

extension Int64 {
    init(bigEndianBytes bytes: [UInt8]) {
        self = bytes.reduce(0) { ($0 << 8) | Int64($1) }
    }

    var bigEndianBytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: self >> (56 - 8 * $0)) }
    }
}

extension Store {
    /// The form of an account's email its uniqueness is judged on (case-insensitive), for a
    /// cluster's database to enforce the same rule.
    public static func emailIndexKey(_ email: String) -> String { AccountValidation.emailKey(email) }

    /// "provider:subject" of the account's OAuth identity, or nil when it has none.
    public static func oauthIndexKey(_ account: Account) -> String? { AccountValidation.oauthKey(account) }
}
