import Foundation
import Logging
import PelletStore
import PostgresNIO

/// Makes a key's `last_used` cluster-wide without a database write per call.
///
/// Each node writes its own uses to its copy, at most once a minute per key
/// (``Store/touchKey(id:now:)``), and collects them. Every `interval` this reports the
/// collected uses in one statement (`last_used = GREATEST(last_used, use)`, only where that
/// raises it, each raise numbered from `pellet_key_use_sequence` under ``ClusterSchema/keyUseLock``),
/// then reads the raises it has not seen yet (by any node, its own included) and raises its
/// copy's `last_used` to them. Listing keys stays a local read; it shows another node's use
/// within about two intervals of that node writing it.
final class KeyUseSync: Sendable {
    private let client: PostgresClient
    private let store: Store
    private let databaseReachable: @Sendable () -> Bool
    private let logger: Logger
    private let interval: Duration
    /// The highest `use_sequence` read so far (0 at start: every raise is read once, then only
    /// the new ones).
    private let seen = LockedSequence()

    /// Raises read a page at a time.
    static let pageLimit = 1_000

    init(
        client: PostgresClient, store: Store, databaseReachable: @escaping @Sendable () -> Bool, logger: Logger,
        interval: Duration = .seconds(5)
    ) {
        self.client = client
        self.store = store
        self.databaseReachable = databaseReachable
        self.logger = logger
        self.interval = interval
        store.startCollectingKeyUses()
    }

    /// Reports and reads every `interval` until the task is cancelled; waits while the database
    /// is away (the uses collected meanwhile go with the first report after).
    func run() async {
        // The first exchange as soon as the feed has connected (the schema is migrated then).
        var failing = false
        await repeatWhileDatabaseReachable(
            every: interval, recheck: .milliseconds(200), limit: .seconds(10), databaseReachable: databaseReachable,
            orThrow: { KeyUseTimeout() }, { _ = try await self.sync() }
        ) { outcome in
            switch outcome {
            case .success:
                failing = false
            case .failure(let error):
                if !failing {
                    logger.warning(
                        "keys' last uses could not be exchanged with the cluster database; retrying: \(String(reflecting: error))")
                    failing = true
                }
            }
        }
    }

    /// One exchange: reports the uses collected since the last one, then applies the raises not
    /// yet read. Returns how many keys' uses were reported and how many of this copy's keys were
    /// raised.
    @discardableResult
    func sync() async throws -> (reported: Int, raised: Int) {
        let uses = store.takeKeyUses()
        if !uses.isEmpty {
            do {
                try await report(uses)
            } catch {
                store.returnKeyUses(uses)
                throw error
            }
        }
        var raised = 0
        while true {
            let after = seen.value
            var page: [String: UInt64] = [:]
            var last = after
            var count = 0
            for try await (id, lastUsed, sequence) in try await client.query(
                """
                SELECT id, last_used, use_sequence FROM pellet_keys
                WHERE use_sequence > \(after) ORDER BY use_sequence LIMIT \(Self.pageLimit)
                """,
                logger: logger
            ).decode((String, Int64, Int64).self) {
                page[id] = UInt64(clamping: lastUsed)
                last = sequence
                count += 1
            }
            if !page.isEmpty { raised += try await store.applyKeyUses(page) }
            seen.raise(to: last)
            if count < Self.pageLimit { return (uses.count, raised) }
        }
    }

    private func report(_ uses: [String: UInt64]) async throws {
        let ids = Array(uses.keys)
        let times = ids.map { Int64(clamping: uses[$0] ?? 0) }
        let logger = self.logger
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(ClusterSchema.keyUseLock))", logger: logger)
            try await connection.query(
                """
                UPDATE pellet_keys k
                SET last_used = GREATEST(k.last_used, u.used), use_sequence = nextval('pellet_key_use_sequence')
                FROM unnest(\(ids)::text[], \(times)::bigint[]) AS u (id, used)
                WHERE k.id = u.id AND k.last_used < u.used
                """,
                logger: logger)
        }
    }
}

private struct KeyUseTimeout: Error, CustomStringConvertible {
    var description: String { "no answer from the cluster database within 10 s" }
}

/// An NSLock, as the feed's state.
private final class LockedSequence: @unchecked Sendable {
    private let lock = NSLock()
    private var _value: Int64 = 0

    var value: Int64 { lock.withLock { _value } }

    func raise(to value: Int64) { lock.withLock { _value = max(_value, value) } }
}
