import CLMDB

/// LMDB refuses empty keys and keys over 511 bytes (the default `MDB_MAXKEYSIZE`). A key outside
/// that range cannot be stored, so a lookup by one simply finds nothing.
let maximumKeySize = 511

/// A read view of the store, valid only inside the closure it was passed to.
///
/// Not Sendable: an LMDB transaction is used by one thread at a time, and the bytes it hands
/// out point into the memory map and are valid only until the transaction ends.
public struct ReadTransaction {
    let handle: OpaquePointer

    init(handle: OpaquePointer) {
        self.handle = handle
    }

    /// Calls `body` with the stored value's bytes, or returns nil when the key is absent.
    /// The bytes are valid only inside `body`: decode or copy them there.
    public func withValue<Result>(
        _ database: Database,
        key: UnsafeRawBufferPointer,
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) throws -> Result? {
        guard key.count > 0, key.count <= maximumKeySize, let base = key.baseAddress else { return nil }
        var keyValue = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: base))
        var data = MDB_val()
        let code = mdb_get(handle, database.handle, &keyValue, &data)
        if code == MDB_NOTFOUND { return nil }
        try check(code, "cannot read from table \(database.name)")
        return try body(UnsafeRawBufferPointer(start: data.mv_data, count: data.mv_size))
    }

    public func withValue<Result>(
        _ database: Database,
        key: some StoreKey,
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) throws -> Result? {
        try key.withStoreKeyBytes { try withValue(database, key: $0, body) }
    }

    /// The stored value's bytes, copied out.
    public func bytes(_ database: Database, key: some StoreKey) throws -> [UInt8]? {
        try withValue(database, key: key) { Array($0) }
    }

    /// The stored value as UTF-8 text (index tables hold ids as values).
    public func string(_ database: Database, key: some StoreKey) throws -> String? {
        try withValue(database, key: key) { String(decoding: $0, as: UTF8.self) }
    }

    public func contains(_ database: Database, key: some StoreKey) throws -> Bool {
        try withValue(database, key: key) { _ in true } ?? false
    }

    /// Visits entries in key order starting at the first key ≥ `start`, while `body` returns
    /// true. The bytes passed to `body` are valid only during that call.
    public func scan(
        _ database: Database,
        from start: some StoreKey,
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(handle, database.handle, &cursor), "cannot read table \(database.name)")
        defer { mdb_cursor_close(cursor) }
        var key = MDB_val()
        var data = MDB_val()
        var code: Int32 = start.withStoreKeyBytes { startBytes in
            if startBytes.isEmpty {
                return mdb_cursor_get(cursor, &key, &data, MDB_FIRST)
            }
            guard startBytes.count <= maximumKeySize else { return MDB_NOTFOUND }
            key = MDB_val(mv_size: startBytes.count, mv_data: UnsafeMutableRawPointer(mutating: startBytes.baseAddress))
            // Copy-free: LMDB reads the start key during this call only, then points `key` at
            // the stored key.
            return mdb_cursor_get(cursor, &key, &data, MDB_SET_RANGE)
        }
        while code == MDB_SUCCESS {
            let keep = try body(
                UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size),
                UnsafeRawBufferPointer(start: data.mv_data, count: data.mv_size)
            )
            guard keep else { return }
            code = mdb_cursor_get(cursor, &key, &data, MDB_NEXT)
        }
        if code != MDB_NOTFOUND {
            throw StoreError(code: code, context: "cannot read table \(database.name)")
        }
    }

    /// How many entries the table holds (LMDB keeps the count: no scan).
    public func entryCount(_ database: Database) throws -> Int {
        var stat = MDB_stat()
        try check(mdb_stat(handle, database.handle, &stat), "cannot read the size of table \(database.name)")
        return Int(stat.ms_entries)
    }

    /// The table's last key in key order, copied out, or nil when it is empty.
    public func lastKey(_ database: Database) throws -> [UInt8]? {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(handle, database.handle, &cursor), "cannot read table \(database.name)")
        defer { mdb_cursor_close(cursor) }
        var key = MDB_val()
        var data = MDB_val()
        let code = mdb_cursor_get(cursor, &key, &data, MDB_LAST)
        if code == MDB_NOTFOUND { return nil }
        try check(code, "cannot read table \(database.name)")
        return Array(UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size))
    }

    /// Visits the entries whose key starts with `prefix`, in key order, while `body` returns true.
    public func scan(
        _ database: Database,
        prefix: some StoreKey,
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        try prefix.withStoreKeyBytes { prefixBytes in
            try scan(database, from: prefix) { key, value in
                guard key.starts(with: prefixBytes) else { return false }
                return try body(key, value)
            }
        }
    }
}

/// A write view of the store, valid only inside the closure it was passed to; reads see the
/// transaction's own writes. Not Sendable, for the same reasons as ``ReadTransaction``.
public struct WriteTransaction {
    let handle: OpaquePointer

    init(handle: OpaquePointer) {
        self.handle = handle
    }

    /// The read operations, seeing this transaction's writes.
    public var reader: ReadTransaction { ReadTransaction(handle: handle) }

    public func withValue<Result>(
        _ database: Database,
        key: some StoreKey,
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) throws -> Result? {
        try reader.withValue(database, key: key, body)
    }

    public func bytes(_ database: Database, key: some StoreKey) throws -> [UInt8]? {
        try reader.bytes(database, key: key)
    }

    public func string(_ database: Database, key: some StoreKey) throws -> String? {
        try reader.string(database, key: key)
    }

    public func contains(_ database: Database, key: some StoreKey) throws -> Bool {
        try reader.contains(database, key: key)
    }

    /// Stores `value` under `key`, replacing any previous value.
    public func put(_ database: Database, key: some StoreKey, value: some StoreKey) throws {
        try key.withStoreKeyBytes { keyBytes in
            guard keyBytes.count > 0, keyBytes.count <= maximumKeySize else {
                throw StoreError.invalidArgument(
                    "a key of table \(database.name) must be 1 to \(maximumKeySize) bytes, not \(keyBytes.count)"
                )
            }
            try value.withStoreKeyBytes { valueBytes in
                var keyValue = MDB_val(
                    mv_size: keyBytes.count,
                    mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress)
                )
                // LMDB copies the value; an empty value needs a non-nil pointer all the same.
                var empty: UInt8 = 0
                try withUnsafeMutablePointer(to: &empty) { emptyPointer in
                    var dataValue = MDB_val(
                        mv_size: valueBytes.count,
                        mv_data: UnsafeMutableRawPointer(mutating: valueBytes.baseAddress)
                            ?? UnsafeMutableRawPointer(emptyPointer)
                    )
                    try check(
                        mdb_put(handle, database.handle, &keyValue, &dataValue, 0),
                        "cannot write to table \(database.name)"
                    )
                }
            }
        }
    }

    /// Removes `key`; returns whether it was there.
    @discardableResult
    public func delete(_ database: Database, key: some StoreKey) throws -> Bool {
        try key.withStoreKeyBytes { keyBytes in
            guard keyBytes.count > 0, keyBytes.count <= maximumKeySize else { return false }
            var keyValue = MDB_val(
                mv_size: keyBytes.count,
                mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress)
            )
            let code = mdb_del(handle, database.handle, &keyValue, nil)
            if code == MDB_NOTFOUND { return false }
            try check(code, "cannot delete from table \(database.name)")
            return true
        }
    }

    /// Removes every entry whose key starts with `prefix` (all of an account's rows, when keys
    /// start with ``AccountScope/prefix(_:)``); returns how many were removed.
    @discardableResult
    public func deleteAll(_ database: Database, prefix: some StoreKey) throws -> Int {
        // Collect first, then delete: simpler to get right than deleting under a live cursor,
        // and deletion is rare (account deletion, retention).
        var keys: [[UInt8]] = []
        try reader.scan(database, prefix: prefix) { key, _ in
            keys.append(Array(key))
            return true
        }
        for key in keys {
            try delete(database, key: key)
        }
        return keys.count
    }

    public func scan(
        _ database: Database,
        from start: some StoreKey,
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        try reader.scan(database, from: start, body)
    }

    public func scan(
        _ database: Database,
        prefix: some StoreKey,
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        try reader.scan(database, prefix: prefix, body)
    }
}

@available(*, unavailable)
extension ReadTransaction: Sendable {}

@available(*, unavailable)
extension WriteTransaction: Sendable {}

/// Something usable as a key or value: its bytes, lent for the duration of a call.
public protocol StoreKey {
    func withStoreKeyBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result
}

extension Array: StoreKey where Element == UInt8 {
    public func withStoreKeyBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try withUnsafeBytes(body)
    }
}

extension ArraySlice: StoreKey where Element == UInt8 {
    public func withStoreKeyBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try withUnsafeBytes(body)
    }
}

extension String: StoreKey {
    public func withStoreKeyBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        var copy = self
        return try copy.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
    }
}
