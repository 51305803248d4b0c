import PelletWire

/// The metering tables. Every key starts with ``AccountScope/prefix(_:)`` (deleting an account
/// is a prefix delete) followed by big-endian fixed-width time components, so that within an
/// account the byte order of keys is time order.
struct MeteringTables: Sendable {
    /// "<account>/" day(4) key id 0 model 0 provider 0 task type → ``StoredTotals``: the daily
    /// counters, oldest day first. The grouping fields live in the key alone.
    let daily: Database
    /// "<account>/" ~unix ms(8) request id → a stored ``RequestRecord``: newest first, because
    /// the time is inverted (`UInt64.max − unix ms`).
    let requests: Database
    /// "<account>/" month(4) → ``StoredTotals``: the billing totals per calendar month, kept while
    /// the account lives. The current month's cost is the month-to-date spend budgets use.
    let monthly: Database
    /// Cluster mode only: sequence(8) → an event not yet shipped to the cluster's database
    /// (``MeteringOutbox``). Nil on a node that works alone.
    let outbox: Database?

    static let dailyName = "usage_daily"
    static let requestsName = "usage_requests"
    static let monthlyName = "usage_monthly"
    static let outboxName = "metering_outbox"
}

/// Builds and parses the metering tables' keys.
enum UsageKeys {
    static let accountSeparator = UInt8(ascii: "/")
    static let fieldSeparator: UInt8 = 0

    /// "<account>/".
    static func accountPrefix(_ accountID: String) -> [UInt8] {
        Array(AccountScope.prefix(accountID).utf8)
    }

    /// The first key after every key of the account whose prefix ends at `separatorIndex`:
    /// "<account>0", because "0" is the byte after "/".
    static func pastAccount(_ key: UnsafeRawBufferPointer, separatorIndex: Int) -> [UInt8] {
        Array(key[..<separatorIndex]) + [accountSeparator + 1]
    }

    /// Where the account prefix of a stored key ends (the index of its "/"), or nil.
    static func separatorIndex(_ key: UnsafeRawBufferPointer) -> Int? {
        key.firstIndex(of: accountSeparator)
    }

    // MARK: Daily counters

    static func dailyStart(_ accountID: String, day: UInt32) -> [UInt8] {
        var key = accountPrefix(accountID)
        key.appendBigEndian(day)
        return key
    }

    static func daily(_ event: MeteringEvent) -> [UInt8] {
        var key = dailyStart(event.accountID, day: UsageCalendar.day(unixMs: event.unixMs))
        key += event.keyID.utf8
        key.append(fieldSeparator)
        key += event.model.utf8
        key.append(fieldSeparator)
        key += event.provider.utf8
        key.append(fieldSeparator)
        key += event.taskType.utf8
        return key
    }

    /// The grouping fields of a daily counter, from the key after its account prefix.
    struct DailyFields: Hashable {
        var day: UInt32 = 0
        var keyID = ""
        var model = ""
        var provider = ""
        var taskType = ""
    }

    /// The day of a daily counter key, given the key after its "<account>/".
    static func dailyDay(_ suffix: UnsafeRawBufferPointer) -> UInt32? {
        suffix.count >= 4 ? suffix.loadBigEndianUInt32(at: 0) : nil
    }

    static func dailyFields(_ suffix: UnsafeRawBufferPointer) -> DailyFields? {
        guard let day = dailyDay(suffix), let slices = dailyFieldSlices(suffix) else { return nil }
        return DailyFields(
            day: day,
            keyID: String(decoding: slices.keyID, as: UTF8.self),
            model: String(decoding: slices.model, as: UTF8.self),
            provider: String(decoding: slices.provider, as: UTF8.self),
            taskType: String(decoding: slices.taskType, as: UTF8.self)
        )
    }

    typealias FieldBytes = Slice<UnsafeRawBufferPointer>

    /// The grouping fields' bytes of a daily counter key, given the key after its
    /// "<account>/"; no copies, no strings (a Usage query groups tens of thousands of these).
    static func dailyFieldSlices(
        _ suffix: UnsafeRawBufferPointer
    ) -> (keyID: FieldBytes, model: FieldBytes, provider: FieldBytes, taskType: FieldBytes)? {
        guard suffix.count >= 4,
            let afterKeyID = suffix[4...].firstIndex(of: fieldSeparator),
            let afterModel = suffix[(afterKeyID + 1)...].firstIndex(of: fieldSeparator),
            let afterProvider = suffix[(afterModel + 1)...].firstIndex(of: fieldSeparator)
        else { return nil }
        return (
            suffix[4..<afterKeyID],
            suffix[(afterKeyID + 1)..<afterModel],
            suffix[(afterModel + 1)..<afterProvider],
            suffix[(afterProvider + 1)...]
        )
    }

    // MARK: Request records

    /// The first key of the account's records made at or before `unixMs` (newest first).
    static func requestStart(_ accountID: String, atOrBefore unixMs: UInt64) -> [UInt8] {
        var key = accountPrefix(accountID)
        key.appendBigEndian(UInt64.max - unixMs)
        return key
    }

    static func request(_ accountID: String, unixMs: UInt64, requestID: String) -> [UInt8] {
        requestStart(accountID, atOrBefore: unixMs) + Array(requestID.utf8)
    }

    /// The time of a request record key, given the key after its "<account>/".
    static func requestTime(_ suffix: UnsafeRawBufferPointer) -> UInt64? {
        suffix.count > 8 ? UInt64.max - suffix.loadBigEndianUInt64(at: 0) : nil
    }

    // MARK: Monthly totals

    static func monthly(_ accountID: String, month: UInt32) -> [UInt8] {
        var key = accountPrefix(accountID)
        key.appendBigEndian(month)
        return key
    }

    static func month(_ suffix: UnsafeRawBufferPointer) -> UInt32? {
        suffix.count == 4 ? suffix.loadBigEndianUInt32(at: 0) : nil
    }
}

/// A request record as stored: a version byte, the time to first token and whether the tokens
/// were estimated (kept from before the wire `RequestRecord` had those fields, and still the
/// ones read), then the `RequestRecord` itself.
enum StoredRequestRecord {
    static let version: UInt8 = 1
    static let headerSize = 6

    static func encode(_ event: MeteringEvent) -> [UInt8] {
        var bytes: [UInt8] = [version]
        bytes.appendBigEndian(event.timeToFirstTokenMs)
        bytes.append(event.tokensEstimated ? 1 : 0)
        bytes += event.requestRecord.encodedBytes()
        return bytes
    }

    /// The record, its time to first token and estimated flag taken from the header (records
    /// stored before the message had those fields lack them in the message itself).
    static func decode(_ bytes: UnsafeRawBufferPointer, table: String) throws -> RequestRecord {
        guard bytes.count >= headerSize, bytes[0] == version else {
            throw StoreError(kind: .dataCorrupted, message: "a record in the \(table) table has an unknown format")
        }
        do {
            var record = try RequestRecord(decoding: UnsafeRawBufferPointer(rebasing: bytes[headerSize...]))
            record.timeToFirstTokenMs = bytes.loadBigEndianUInt32(at: 1)
            record.tokensEstimated = bytes[5] & 1 != 0
            return record
        } catch {
            throw StoreError.corruptRecord(table: table, error)
        }
    }
}

/// `UsageTotals` as the counter tables store them: a version byte, then the counts as big-endian
/// UInt64 in the schema's field order. Version 1 has six counts (49 bytes); version 2 appends
/// `cached_prompt_tokens` (57 bytes).
///
/// Not protobuf: the writer rewrites two of these per event and a Usage query sums tens of
/// thousands, and fixed offsets make each a few loads where protobuf-c allocates per message.
/// A later version may append counts; a reader takes the ones it knows, and a count an older
/// record lacks is 0.
enum StoredTotals {
    static let version: UInt8 = 2
    static let size = 1 + 7 * 8
    /// A version 1 record: the six counts before `cached_prompt_tokens`.
    static let firstVersionSize = 1 + 6 * 8

    static func encode(_ totals: UsageTotals) -> [UInt8] {
        var bytes: [UInt8] = [version]
        bytes.reserveCapacity(size)
        for count in [
            totals.requests, totals.promptTokens, totals.completionTokens, totals.costMicroUsd, totals.errors,
            totals.latencyMsSum, totals.cachedPromptTokens,
        ] {
            bytes.appendBigEndian(count)
        }
        return bytes
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, table: String) throws -> UsageTotals {
        guard bytes.count >= 1, bytes[0] >= 1, bytes.count >= (bytes[0] == 1 ? firstVersionSize : size) else {
            throw StoreError(kind: .dataCorrupted, message: "a record in the \(table) table has an unknown format")
        }
        return UsageTotals(
            requests: bytes.loadBigEndianUInt64(at: 1),
            promptTokens: bytes.loadBigEndianUInt64(at: 9),
            completionTokens: bytes.loadBigEndianUInt64(at: 17),
            costMicroUsd: bytes.loadBigEndianUInt64(at: 25),
            errors: bytes.loadBigEndianUInt64(at: 33),
            latencyMsSum: bytes.loadBigEndianUInt64(at: 41),
            cachedPromptTokens: bytes[0] == 1 ? 0 : bytes.loadBigEndianUInt64(at: 49)
        )
    }
}

extension ReadTransaction {
    /// The counts stored under `key`, or nil.
    func totals(_ database: Database, key: [UInt8]) throws -> UsageTotals? {
        try withValue(database, key: key) { try StoredTotals.decode($0, table: database.name) }
    }
}

// MARK: Account deletion and export


/// A usage table whose keys all start with the account's prefix: deleting an account's rows is
/// one prefix delete.
protocol AccountPrefixedTable: AccountScopedTable {
    var database: Database { get }
    /// One row of the export, from its key (after the account prefix) and value.
    func exportRow(suffix: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws -> JSONValue
}

extension AccountPrefixedTable {
    func deleteAll(accountID: String, in transaction: WriteTransaction) throws {
        try transaction.deleteAll(database, prefix: UsageKeys.accountPrefix(accountID))
    }
}

/// The daily counters in account deletion and export ("usage_counters").
struct DailyCountersTable: AccountPrefixedTable {
    let database: Database

    var exportName: String { "usage_counters" }

    func exportRow(suffix: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws -> JSONValue {
        guard let fields = UsageKeys.dailyFields(suffix) else {
            throw StoreError(kind: .dataCorrupted, message: "a key in the \(database.name) table is malformed")
        }
        let totals = try StoredTotals.decode(value, table: database.name)
        var members = totals.exportMembers
        members["day"] = .uint(UInt64(fields.day))
        members["date"] = .string(UsageCalendar.isoDate(ofDay: fields.day))
        members["key_id"] = .string(fields.keyID)
        members["model"] = .string(fields.model)
        members["provider"] = .string(fields.provider)
        members["task_type"] = .string(fields.taskType)
        return .object(members)
    }
}

/// The request records in account deletion and export ("request_records"), newest first.
struct RequestRecordsTable: AccountPrefixedTable {
    let database: Database

    var exportName: String { "request_records" }

    func exportRow(suffix: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws -> JSONValue {
        let record = try StoredRequestRecord.decode(value, table: database.name)
        return [
            "request_id": .string(record.requestId),
            "unix_ms": .uint(record.unixMs),
            "key_id": .string(record.keyId),
            "task_type": .string(record.taskType),
            "model": .string(record.model),
            "provider": .string(record.provider),
            "prompt_tokens": .uint(UInt64(record.usage?.promptTokens ?? 0)),
            "completion_tokens": .uint(UInt64(record.usage?.completionTokens ?? 0)),
            "tokens_estimated": .bool(record.tokensEstimated),
            "cost_micro_usd": .uint(record.costMicroUsd),
            "latency_ms": .uint(UInt64(record.latencyMs)),
            "time_to_first_token_ms": .uint(UInt64(record.timeToFirstTokenMs)),
            "status": .uint(UInt64(record.status)),
            "attempts": .uint(UInt64(record.attempts)),
        ]
    }
}

/// The monthly billing totals in account deletion and export ("monthly_totals").
struct MonthlyTotalsTable: AccountPrefixedTable {
    let database: Database

    var exportName: String { "monthly_totals" }

    func exportRow(suffix: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws -> JSONValue {
        guard let month = UsageKeys.month(suffix) else {
            throw StoreError(kind: .dataCorrupted, message: "a key in the \(database.name) table is malformed")
        }
        var members = try StoredTotals.decode(value, table: database.name).exportMembers
        members["month"] = .string(UsageCalendar.isoMonth(month))
        return .object(members)
    }
}

// MARK: Big-endian integers in keys

extension Array where Element == UInt8 {
    mutating func appendBigEndian(_ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) {
            append(UInt8(truncatingIfNeeded: value >> UInt32(shift)))
        }
    }

    mutating func appendBigEndian(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) {
            append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }
}

extension UnsafeRawBufferPointer {
    func loadBigEndianUInt32(at offset: Int) -> UInt32 {
        UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    func loadBigEndianUInt64(at offset: Int) -> UInt64 {
        UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}
