import Crypto
import PelletWire

/// API keys: the records by hash (the authentication lookup), by id, and per account.
///
/// Only the SHA-256 of a key is stored; the plaintext exists once, in the reply to its creation.
struct KeysTable: AccountScopedTable {
    let tables: CoreTables

    var exportName: String { "keys" }

    func deleteAll(accountID: String, in transaction: WriteTransaction) throws {
        for keyID in try keyIDs(of: accountID, in: transaction.reader) {
            if let hash = try transaction.bytes(tables.keysByID, key: keyID) {
                try transaction.delete(tables.keys, key: hash)
            }
            try transaction.delete(tables.keysByID, key: keyID)
        }
        try transaction.deleteAll(tables.accountKeys, prefix: AccountScope.prefix(accountID))
    }

    func export(accountID: String, in transaction: ReadTransaction) throws -> JSONValue {
        .array(try keys(of: accountID, in: transaction).map(\.exportJSON))
    }

    /// The ids of the account's keys, from the `account_keys` prefix range.
    func keyIDs(of accountID: String, in transaction: ReadTransaction) throws -> [String] {
        let prefix = AccountScope.prefix(accountID)
        let prefixLength = prefix.utf8.count
        var ids: [String] = []
        try transaction.scan(tables.accountKeys, prefix: prefix) { key, _ in
            ids.append(String(decoding: key[prefixLength...], as: UTF8.self))
            return true
        }
        return ids
    }

    /// The account's key records, oldest first.
    func keys(of accountID: String, in transaction: ReadTransaction) throws -> [ApiKey] {
        try keyIDs(of: accountID, in: transaction).compactMap { keyID in
            try record(id: keyID, in: transaction)
        }
        .sorted { ($0.createdUnixMs, $0.id) < ($1.createdUnixMs, $1.id) }
    }

    /// The key record with this id, or nil.
    func record(id: String, in transaction: ReadTransaction) throws -> ApiKey? {
        guard let hash = try transaction.bytes(tables.keysByID, key: id) else { return nil }
        return try transaction.message(ApiKey.self, tables.keys, key: hash)
    }
}

extension Store {
    static let maximumKeyNameLength = 200
    /// How often a key's last use is written at most.
    static let keyTouchInterval: UInt64 = 60_000

    /// Creates an API key for the account. Returns the plaintext, which is not stored and cannot
    /// be recovered, and the key's record. Fails with `.notFound` for an unknown account.
    public func createKey(accountID: String, name: String) async throws -> (plaintext: String, record: ApiKey) {
        guard name.count <= Self.maximumKeyNameLength else {
            throw StoreError.invalidArgument("a key name must be at most \(Self.maximumKeyNameLength) characters")
        }
        let plaintext = RandomIdentifier.apiKey()
        let hash = Self.keyHash(plaintext: plaintext)
        let now = configuration.now()
        let tables = self.tables
        let record = try await write { transaction in
            guard try transaction.contains(tables.accounts, key: accountID) else {
                throw StoreError.notFound("no account has id \(accountID)")
            }
            var record = ApiKey(
                accountId: accountID,
                name: name,
                prefix: String(plaintext.prefix(12)),
                createdUnixMs: now
            )
            repeat {
                record.id = RandomIdentifier.keyID()
            } while try transaction.contains(tables.keysByID, key: record.id)
            try transaction.put(tables.keys, key: hash, message: record)
            try transaction.put(tables.keysByID, key: record.id, value: hash)
            try transaction.put(tables.accountKeys, key: AccountScope.key(accountID, record.id), value: [UInt8]())
            return record
        }
        return (plaintext, record)
    }

    /// Revokes the key: it still looks up (so the server can say "revoked"), with
    /// `revokedUnixMs` set. Revoking again keeps the first time. Fails with `.notFound` for an
    /// unknown id.
    @discardableResult
    public func revokeKey(id: String) async throws -> ApiKey {
        let now = configuration.now()
        let tables = self.tables
        return try await write { transaction in
            guard let hash = try transaction.bytes(tables.keysByID, key: id),
                var record = try transaction.message(ApiKey.self, tables.keys, key: hash)
            else {
                throw StoreError.notFound("no API key has id \(id)")
            }
            if record.revokedUnixMs == 0 {
                record.revokedUnixMs = now
                try transaction.put(tables.keys, key: hash, message: record)
            }
            return record
        }
    }

    /// The key with this id (its metadata; the store has no plaintext), or nil.
    public func key(id: String) throws -> ApiKey? {
        let keys = KeysTable(tables: tables)
        return try read { try keys.record(id: id, in: $0) }
    }

    /// The account's keys, oldest first, revoked ones included. Fails with `.notFound` for an
    /// unknown account.
    public func listKeys(accountID: String) throws -> [ApiKey] {
        let keys = KeysTable(tables: tables)
        return try read { transaction in
            guard try transaction.contains(keys.tables.accounts, key: accountID) else {
                throw StoreError.notFound("no account has id \(accountID)")
            }
            return try keys.keys(of: accountID, in: transaction)
        }
    }

    /// The key with this SHA-256 and its account, or nil: the authentication hot path, one
    /// read transaction and two lookups. A revoked key is returned with `revokedUnixMs` set;
    /// the caller decides.
    public func lookupKey(hash: SHA256Digest) throws -> (key: ApiKey, account: Account)? {
        try lookupKey(hashBytes: hash)
    }

    public func lookupKey(hash: [UInt8]) throws -> (key: ApiKey, account: Account)? {
        try lookupKey(hashBytes: hash)
    }

    /// Hashes `plaintext` and looks it up.
    public func lookupKey(plaintext: String) throws -> (key: ApiKey, account: Account)? {
        try lookupKey(hashBytes: SHA256.hash(data: Array(plaintext.utf8)))
    }

    /// The SHA-256 of an API key's plaintext: what the `keys` table is keyed by.
    public static func keyHash(plaintext: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(plaintext.utf8)))
    }

    /// Both records are read in one transaction on every call; only their decoding is skipped
    /// when their bytes are the ones decoded before (``DecodedRecords``).
    private func lookupKey(hashBytes: some StoreKey) throws -> (key: ApiKey, account: Account)? {
        let tables = self.tables
        let decodedKeys = self.decodedKeys
        let decodedAccounts = self.decodedAccounts
        return try read { transaction in
            guard let key = try transaction.message(tables.keys, key: hashBytes, cache: decodedKeys),
                let account = try transaction.message(tables.accounts, key: key.accountId, cache: decodedAccounts)
            else { return nil }
            return (key, account)
        }
    }

    /// Records that the key was used at `now` (unix ms; default: the store's clock). Writes at
    /// most once a minute per key: most calls only check an in-memory map and return false.
    /// When it returns true, a write has been queued (not awaited; a failure is logged).
    @discardableResult
    public func touchKey(id: String, now: UInt64? = nil) -> Bool {
        let now = now ?? configuration.now()
        let due = keyTouches.withLock { touches in
            if let last = touches[id], now < last &+ Self.keyTouchInterval {
                return false
            }
            touches[id] = now
            return true
        }
        guard due else { return false }
        noteKeyUse(id: id, at: now)
        let tables = self.tables
        writeDetached("touch key") { transaction in
            _ = try tables.raiseLastUsed(ofKey: id, to: now, in: transaction)
        }
        return true
    }
}

extension CoreTables {
    /// Raises key `id`'s last use to `time`; false when the key is gone or its last use is
    /// already that late. The one rule for a local touch and for the cluster's reports.
    func raiseLastUsed(ofKey id: String, to time: UInt64, in transaction: WriteTransaction) throws -> Bool {
        guard let hash = try transaction.bytes(keysByID, key: id),
            var record = try transaction.message(ApiKey.self, keys, key: hash),
            record.lastUsedUnixMs < time
        else { return false }
        record.lastUsedUnixMs = time
        try transaction.put(keys, key: hash, message: record)
        return true
    }
}

extension SHA256Digest: StoreKey {
    public func withStoreKeyBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try withUnsafeBytes(body)
    }
}

extension ApiKey {
    /// The key in an export: metadata only (the store holds no plaintext, and the hash is not
    /// exported).
    var exportJSON: JSONValue {
        [
            "id": .string(id),
            "account_id": .string(accountId),
            "name": .string(name),
            "prefix": .string(prefix),
            "created_unix_ms": .uint(createdUnixMs),
            "last_used_unix_ms": .uint(lastUsedUnixMs),
            "revoked_unix_ms": .uint(revokedUnixMs),
        ]
    }
}
