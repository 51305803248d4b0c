import PelletWire

/// A key's last use across a cluster (DESIGN.md section 5). Each node writes its own uses to
/// its copy (``Store/touchKey(id:now:)``, at most once a minute per key) and collects them
/// here; the cluster link reports them to the database in batches and raises this copy's
/// `last_used` to the other nodes' uses it reads back. No call waits for any of it.
extension Store {
    /// Starts collecting the keys' uses for ``takeKeyUses()`` (cluster mode only: otherwise
    /// nothing would ever take them).
    public func startCollectingKeyUses() {
        keyUseReports.withLock { uses in
            if uses == nil { uses = [:] }
        }
    }

    /// The keys' uses written since the last take (key id → the latest use, unix ms), and
    /// forgets them.
    public func takeKeyUses() -> [String: UInt64] {
        keyUseReports.withLock { uses in
            guard let taken = uses, !taken.isEmpty else { return [:] }
            uses = [:]
            return taken
        }
    }

    /// Puts back uses taken but not reported (the database was away), to go with the next.
    public func returnKeyUses(_ returned: [String: UInt64]) {
        keyUseReports.withLock { uses in
            guard uses != nil else { return }
            uses!.merge(returned, uniquingKeysWith: max)
        }
    }

    func noteKeyUse(id: String, at unixMs: UInt64) {
        keyUseReports.withLock { uses in
            guard uses != nil else { return }
            uses![id] = max(uses![id] ?? 0, unixMs)
        }
    }

    /// Raises this copy's `last_used` of each key to its use elsewhere (key id → unix ms), when
    /// later; unknown keys are skipped. Writes only if some key changes; returns how many did.
    @discardableResult
    public func applyKeyUses(_ uses: [String: UInt64]) async throws -> Int {
        let tables = self.tables
        let later = try read { transaction in
            try uses.filter { id, time in
                guard let hash = try transaction.bytes(tables.keysByID, key: id),
                    let record = try transaction.message(ApiKey.self, tables.keys, key: hash)
                else { return false }
                return record.lastUsedUnixMs < time
            }
        }
        guard !later.isEmpty else { return 0 }
        return try await write { transaction in
            var raised = 0
            for (id, time) in later where try tables.raiseLastUsed(ofKey: id, to: time, in: transaction) {
                raised += 1
            }
            return raised
        }
    }
}
