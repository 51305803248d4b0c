import Foundation
import PelletWire

extension Metering {
    /// The range a Usage call covers when it names none: the last 30 days, today included.
    public static let defaultUsageDays = 30
    public static let defaultRequestLimit = 100
    public static let maximumRequestLimit = 1_000

    /// The Usage call's answer for an account: the totals over the days `[fromDay, toDay]`
    /// (days since 1970-01-01 UTC), rows grouped by `groupBy` (none: no rows), and with
    /// `listRequests` a page of request records, newest first.
    ///
    /// Days: both 0 means the last 30 days, today included; `toDay` 0 alone means today;
    /// `fromDay` 0 alone means the 30 days ending at `toDay`. Rows have the fields not grouped
    /// by empty (day 0) and are sorted by day, model, provider, task type, key. `cursor` is ""
    /// for the first page, else a previous `nextCursor`; `limit` 0 means 100, at most 1,000.
    ///
    /// One read transaction: the totals, rows and page are consistent. Fails with
    /// `.invalidArgument` when `fromDay` is after `toDay`, when the range is longer than the
    /// retention, or for a cursor this server did not return; `.notFound` for an unknown
    /// account.
    public func usage(
        accountID: String,
        fromDay: UInt32 = 0,
        toDay: UInt32 = 0,
        groupBy: [UsageGroup] = [],
        listRequests: Bool = false,
        cursor: String = "",
        limit: Int = 0
    ) throws -> UsageResponse {
        let range = try resolvedRange(fromDay: fromDay, toDay: toDay)
        let page = limit <= 0 ? Self.defaultRequestLimit : min(limit, Self.maximumRequestLimit)
        let resumeAfter = try UsageCursor.decode(cursor)
        let tables = self.tables
        let accounts = store.tables.accounts
        return try store.read { transaction in
            guard try transaction.contains(accounts, key: accountID) else {
                throw StoreError.notFound("no account has id \(accountID)")
            }
            var response = try Self.counters(
                accountID: accountID,
                range: range,
                groupBy: Set(groupBy),
                table: tables.daily,
                in: transaction
            )
            if listRequests {
                let (records, next) = try Self.requestPage(
                    accountID: accountID,
                    range: range,
                    after: resumeAfter,
                    limit: page,
                    table: tables.requests,
                    in: transaction
                )
                response.requests = records
                response.nextCursor = next
            }
            return response
        }
    }

    /// ``usage(accountID:fromDay:toDay:groupBy:listRequests:cursor:limit:)`` for a decoded
    /// Usage request; `accountID` is the account the server resolved (the key's own, or the
    /// one an admin named).
    public func usage(_ request: UsageRequest, accountID: String) throws -> UsageResponse {
        try usage(
            accountID: accountID,
            fromDay: request.fromDay,
            toDay: request.toDay,
            groupBy: request.groupBy,
            listRequests: request.listRequests,
            cursor: request.cursor,
            limit: Int(request.limit)
        )
    }

    /// The days a Usage request covers (its defaults filled in), or `.invalidArgument` for a
    /// range the Usage call refuses; for a cluster that answers Usage from its database.
    public func usageRange(fromDay: UInt32, toDay: UInt32) throws -> ClosedRange<UInt32> {
        try resolvedRange(fromDay: fromDay, toDay: toDay)
    }

    /// The Usage call's cursor naming the record of `requestID` at `unixMs` (the next page
    /// starts after it), as this store makes them.
    public static func usageCursor(unixMs: UInt64, requestID: String) -> String {
        var suffix: [UInt8] = []
        suffix.appendBigEndian(UInt64.max - unixMs)
        suffix += requestID.utf8
        return UsageCursor.encode(suffix)
    }

    /// The time and request id a cursor names; nil for "" (the first page), `.invalidArgument`
    /// for a cursor no server returned.
    public static func decodeUsageCursor(_ cursor: String) throws -> (unixMs: UInt64, requestID: String)? {
        guard let suffix = try UsageCursor.decode(cursor) else { return nil }
        let time = suffix.withUnsafeBytes { UInt64.max - $0.loadBigEndianUInt64(at: 0) }
        return (time, String(decoding: suffix[8...], as: UTF8.self))
    }

    private func resolvedRange(fromDay: UInt32, toDay: UInt32) throws -> ClosedRange<UInt32> {
        let today = UsageCalendar.day(unixMs: store.configuration.now())
        let defaultSpan = UInt32(Self.defaultUsageDays - 1)
        let to = toDay == 0 ? today : toDay
        let from = fromDay == 0 ? (to > defaultSpan ? to - defaultSpan : 0) : fromDay
        guard from <= to else {
            throw StoreError.invalidArgument(
                "from_day \(from) (\(UsageCalendar.isoDate(ofDay: from))) is after to_day \(to) "
                    + "(\(UsageCalendar.isoDate(ofDay: to)))"
            )
        }
        let days = Int(to - from) + 1
        guard days <= retentionDays else {
            throw StoreError.invalidArgument(
                "the range \(UsageCalendar.isoDate(ofDay: from)) to \(UsageCalendar.isoDate(ofDay: to)) spans "
                    + "\(days) days; usage is kept \(retentionDays) days, so a range can span at most that"
            )
        }
        return from...to
    }

    /// Sums the daily counters of the range into the totals and the rows.
    private static func counters(
        accountID: String,
        range: ClosedRange<UInt32>,
        groupBy: Set<UsageGroup>,
        table: Database,
        in transaction: ReadTransaction
    ) throws -> UsageResponse {
        let prefix = UsageKeys.accountPrefix(accountID)
        var totals = UsageTotals()
        var groups = UsageGrouping(groupBy)
        try transaction.scan(table, from: UsageKeys.dailyStart(accountID, day: range.lowerBound)) { key, value in
            guard key.starts(with: prefix) else { return false }
            let suffix = UnsafeRawBufferPointer(rebasing: key[prefix.count...])
            guard let day = UsageKeys.dailyDay(suffix), day <= range.upperBound else { return false }
            let counter = try StoredTotals.decode(value, table: table.name)
            totals.add(counter)
            if !groupBy.isEmpty {
                guard try groups.add(counter, day: day, suffix: suffix) else {
                    throw StoreError(kind: .dataCorrupted, message: "a key in the \(table.name) table is malformed")
                }
            }
            return true
        }
        return UsageResponse(totals: totals, rows: groups.rows())
    }

    /// A page of the range's request records, newest first, after the record `after` names.
    private static func requestPage(
        accountID: String,
        range: ClosedRange<UInt32>,
        after: [UInt8]?,
        limit: Int,
        table: Database,
        in transaction: ReadTransaction
    ) throws -> (records: [RequestRecord], nextCursor: String) {
        let prefix = UsageKeys.accountPrefix(accountID)
        let oldest = UsageCalendar.startOfDay(range.lowerBound)
        let newest = UsageCalendar.startOfDay(range.upperBound) + UsageCalendar.millisecondsPerDay - 1
        var start = UsageKeys.requestStart(accountID, atOrBefore: newest)
        let resumeKey = after.map { prefix + $0 }
        if let resumeKey, start.lexicographicallyPrecedes(resumeKey) {
            start = resumeKey
        }
        var records: [RequestRecord] = []
        var lastSuffix: [UInt8] = []
        var more = false
        try transaction.scan(table, from: start) { key, value in
            guard key.starts(with: prefix) else { return false }
            if let resumeKey, key.elementsEqual(resumeKey) { return true }
            let suffix = UnsafeRawBufferPointer(rebasing: key[prefix.count...])
            guard let time = UsageKeys.requestTime(suffix), time >= oldest else { return false }
            guard records.count < limit else {
                more = true
                return false
            }
            records.append(try StoredRequestRecord.decode(value, table: table.name))
            lastSuffix = Array(suffix)
            return true
        }
        return (records, more ? UsageCursor.encode(lastSuffix) : "")
    }
}

/// Daily counters summed into Usage rows.
///
/// Sort and merge rather than a dictionary: each counter's group key (day(4) model 0
/// provider 0 task type 0 key id, with the fields not grouped by left empty) is appended to one
/// flat buffer, the counters are sorted by those bytes with `memcmp`, and equal neighbours are
/// merged. Sorting the bytes sorts the rows by day, model, provider, task type and key (strings
/// in UTF-8 byte order), strings are made once per row, and nothing is hashed or allocated per
/// counter: a 90-day query grouped by everything merges tens of thousands of counters.
struct UsageGrouping {
    private struct Entry {
        var start: Int
        var end: Int
        var totals: UsageTotals
    }

    private let byDay: Bool
    private let byModel: Bool
    private let byProvider: Bool
    private let byTaskType: Bool
    private let byKey: Bool
    private var keys: [UInt8] = []
    private var entries: [Entry] = []

    init(_ groupBy: Set<UsageGroup>) {
        byDay = groupBy.contains(.day)
        byModel = groupBy.contains(.model)
        byProvider = groupBy.contains(.provider)
        byTaskType = groupBy.contains(.taskType)
        byKey = groupBy.contains(.key)
    }

    private var byName: Bool { byModel || byProvider || byTaskType || byKey }

    /// Adds a counter, given its day and its key after "<account>/"; false for a malformed key.
    mutating func add(_ totals: UsageTotals, day: UInt32, suffix: UnsafeRawBufferPointer) throws -> Bool {
        let start = keys.count
        keys.appendBigEndian(byDay ? day : 0)
        if byName {
            guard let fields = UsageKeys.dailyFieldSlices(suffix) else { return false }
            // Rebased to contiguous buffers, so each append is one copy rather than a loop.
            if byModel { keys.append(contentsOf: UnsafeRawBufferPointer(rebasing: fields.model)) }
            keys.append(UsageKeys.fieldSeparator)
            if byProvider { keys.append(contentsOf: UnsafeRawBufferPointer(rebasing: fields.provider)) }
            keys.append(UsageKeys.fieldSeparator)
            if byTaskType { keys.append(contentsOf: UnsafeRawBufferPointer(rebasing: fields.taskType)) }
            keys.append(UsageKeys.fieldSeparator)
            if byKey { keys.append(contentsOf: UnsafeRawBufferPointer(rebasing: fields.keyID)) }
        }
        entries.append(Entry(start: start, end: keys.count, totals: totals))
        return true
    }

    /// The groups, sorted.
    func rows() -> [UsageRow] {
        keys.withUnsafeBytes { keys in
            func compare(_ left: Entry, _ right: Entry) -> Int32 {
                let leftCount = left.end - left.start
                let rightCount = right.end - right.start
                let order = memcmp(
                    keys.baseAddress! + left.start,
                    keys.baseAddress! + right.start,
                    min(leftCount, rightCount)
                )
                return order != 0 ? order : (leftCount < rightCount ? -1 : leftCount == rightCount ? 0 : 1)
            }
            // Without names the counters arrive in day order already.
            let sorted = byName ? entries.sorted { compare($0, $1) < 0 } : entries
            var rows: [UsageRow] = []
            rows.reserveCapacity(byName ? sorted.count : 128)
            var current: Entry?
            for entry in sorted {
                if var group = current, compare(group, entry) == 0 {
                    group.totals.add(entry.totals)
                    current = group
                } else {
                    if let group = current { rows.append(row(group, keys)) }
                    current = entry
                }
            }
            if let group = current { rows.append(row(group, keys)) }
            return rows
        }
    }

    private func row(_ group: Entry, _ keys: UnsafeRawBufferPointer) -> UsageRow {
        let key = UnsafeRawBufferPointer(rebasing: keys[group.start..<group.end])
        var row = UsageRow(day: key.loadBigEndianUInt32(at: 0), totals: group.totals)
        guard byName else { return row }
        // model 0 provider 0 task type 0 key id, each made into a string from contiguous bytes
        // (the fast path of `String(decoding:as:)`).
        var names: [String] = []
        names.reserveCapacity(4)
        var start = 4
        for index in 4...key.count where index == key.count || key[index] == UsageKeys.fieldSeparator {
            names.append(String(decoding: UnsafeRawBufferPointer(rebasing: key[start..<index]), as: UTF8.self))
            start = index + 1
        }
        row.model = names[0]
        row.provider = names[1]
        row.taskType = names[2]
        row.keyId = names[3]
        return row
    }
}

/// The Usage call's cursor: the key (after "<account>/") of the last record returned, so the
/// next page starts right after it, in base64url. Records written meanwhile do not shift it.
enum UsageCursor {
    static let version: UInt8 = 1

    static func encode(_ suffix: [UInt8]) -> String {
        Base64URL.encode([version] + suffix)
    }

    /// The key suffix the cursor names; nil for "" (the first page).
    static func decode(_ cursor: String) throws -> [UInt8]? {
        guard !cursor.isEmpty else { return nil }
        guard let data = Base64URL.decode(cursor),
            data.count > 9, data.count <= 9 + MeteringEvent.maximumRequestIDBytes,
            data.first == version, !data.dropFirst(9).contains(0)
        else {
            throw StoreError.invalidArgument("the cursor \"\(cursor.prefix(64))\" is not one this server returned")
        }
        return Array(data.dropFirst())
    }
}
