import PelletWire

/// Cluster mode's metering outbox (DESIGN.md section 5): the events this node recorded and has
/// not yet shipped to the cluster's database.
///
/// An event enters the outbox in the transaction that records it, so everything acknowledged is
/// in LMDB and, until shipped, in the outbox. The shipper reads the oldest entries
/// (``Metering/outboxBatch(limit:)``), inserts them into the database idempotently (each event
/// is unique by account, time and request id), then removes them
/// (``Metering/removeFromOutbox(through:)``). What the outbox holds is therefore the position:
/// a node that stops or crashes between the insert and the removal sends that batch again at
/// its next start, and the database adds nothing for it. The outbox shares the map with
/// everything else, so an outage that lasts long enough fills the map and metering refuses
/// calls (fail closed) exactly as a full store does on a node that works alone.
///
/// Key: a sequence number (8 bytes, big-endian), one above the last key, so key order is the
/// order of recording; after the outbox empties, numbering starts again (only the order within
/// the outbox matters). Value: the account id's length (1 byte), the account id, then the
/// request record as ``StoredRequestRecord`` stores it.
enum MeteringOutbox {
    static func append(_ event: MeteringEvent, to outbox: Database, in transaction: WriteTransaction) throws {
        var sequence: UInt64 = 1
        if let last = try transaction.reader.lastKey(outbox), last.count == 8 {
            sequence = last.withUnsafeBytes { $0.loadBigEndianUInt64(at: 0) } + 1
        }
        var key: [UInt8] = []
        key.appendBigEndian(sequence)
        // The account id is at most `MeteringEvent.maximumFieldBytes` (96) bytes: one length byte.
        var value: [UInt8] = [UInt8(event.accountID.utf8.count)]
        value += event.accountID.utf8
        value += StoredRequestRecord.encode(event)
        try transaction.put(outbox, key: key, value: value)
    }

    static func decode(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, table: String) throws -> Metering.OutboxEntry {
        guard key.count == 8, value.count >= 1, value.count > 1 + Int(value[0]) else {
            throw StoreError(kind: .dataCorrupted, message: "an entry of the \(table) table is malformed")
        }
        let accountLength = Int(value[0])
        let accountID = String(decoding: UnsafeRawBufferPointer(rebasing: value[1..<(1 + accountLength)]), as: UTF8.self)
        let record = try StoredRequestRecord.decode(UnsafeRawBufferPointer(rebasing: value[(1 + accountLength)...]), table: table)
        return Metering.OutboxEntry(
            sequence: key.loadBigEndianUInt64(at: 0), event: MeteringEvent(accountID: accountID, record: record))
    }
}

extension Metering {
    /// One event waiting in the outbox, and its place there.
    public struct OutboxEntry: Sendable, Equatable {
        public let sequence: UInt64
        public let event: MeteringEvent
    }

    /// Whether recorded events go to the outbox (cluster mode).
    public var hasOutbox: Bool { tables.outbox != nil }

    /// The oldest `limit` events waiting to be shipped, oldest first; empty without an outbox.
    public func outboxBatch(limit: Int) throws -> [OutboxEntry] {
        guard let outbox = tables.outbox else { return [] }
        return try store.read { transaction in
            var entries: [OutboxEntry] = []
            try transaction.scan(outbox, from: [UInt8]()) { key, value in
                entries.append(try MeteringOutbox.decode(key: key, value: value, table: outbox.name))
                return entries.count < limit
            }
            return entries
        }
    }

    /// Removes the entries up to and including `sequence` (shipped), in one transaction;
    /// returns how many it removed.
    @discardableResult
    public func removeFromOutbox(through sequence: UInt64) async throws -> Int {
        guard let outbox = tables.outbox else { return 0 }
        return try await store.write { transaction in
            var shipped: [[UInt8]] = []
            try transaction.scan(outbox, from: [UInt8]()) { key, _ in
                guard key.count == 8, key.loadBigEndianUInt64(at: 0) <= sequence else { return false }
                shipped.append(Array(key))
                return true
            }
            for key in shipped {
                try transaction.delete(outbox, key: key)
            }
            return shipped.count
        }
    }

    /// How many events wait to be shipped (0 without an outbox).
    public func outboxDepth() throws -> Int {
        guard let outbox = tables.outbox else { return 0 }
        return try store.read { try $0.entryCount(outbox) }
    }
}

extension MeteringEvent {
    /// The event a stored request record describes.
    init(accountID: String, record: RequestRecord) {
        self.init(
            requestID: record.requestId,
            accountID: accountID,
            keyID: record.keyId,
            unixMs: record.unixMs,
            taskType: record.taskType,
            model: record.model,
            provider: record.provider,
            promptTokens: record.usage?.promptTokens ?? 0,
            completionTokens: record.usage?.completionTokens ?? 0,
            costMicroUSD: record.costMicroUsd,
            latencyMs: record.latencyMs,
            timeToFirstTokenMs: record.timeToFirstTokenMs,
            status: record.status,
            attempts: record.attempts,
            tokensEstimated: record.tokensEstimated,
            cachedPromptTokens: record.usage?.cachedPromptTokens ?? 0
        )
    }
}
