import CLMDB

/// How much of the LMDB map is in use.
public struct MapUsage: Sendable, Equatable {
    /// The pages written so far (the data file's high-water mark), in bytes. Freed pages inside
    /// it are reused before the file grows, so this is what reaching the map size is measured by.
    public var usedBytes: UInt64
    /// The map's size (`--map-size`): the most the data file can grow to.
    public var sizeBytes: UInt64

    public var fraction: Double { sizeBytes == 0 ? 0 : Double(usedBytes) / Double(sizeBytes) }

    public init(usedBytes: UInt64, sizeBytes: UInt64) {
        self.usedBytes = usedBytes
        self.sizeBytes = sizeBytes
    }
}

extension Environment {
    /// Reads the meta page: no transaction, no lock, cheap enough for every Health call.
    func mapUsage() throws -> MapUsage {
        var info = MDB_envinfo()
        try check(mdb_env_info(handle, &info), "cannot read the store's map size")
        var stat = MDB_stat()
        try check(mdb_env_stat(handle, &stat), "cannot read the store's page size")
        return MapUsage(
            usedBytes: (UInt64(info.me_last_pgno) + 1) * UInt64(stat.ms_psize),
            sizeBytes: UInt64(info.me_mapsize)
        )
    }
}

/// When to warn the operator that the map is filling up: once it passes 80%, then at every
/// further 5%, and again after it fell back below 80% (retention or compaction freed pages).
public struct MapUsageWarnings: Sendable {
    public static let threshold = 0.8
    /// The last 5% step warned about (16 is 80%).
    private var lastStep: Int?

    public init() {}

    /// The warning to log for `usage` now, if any.
    public mutating func check(_ usage: MapUsage) -> String? {
        guard usage.fraction >= Self.threshold else {
            lastStep = nil
            return nil
        }
        let step = Int(usage.fraction * 20)
        guard step > (lastStep ?? Int(Self.threshold * 20) - 1) else { return nil }
        lastStep = step
        let percent = Int((usage.fraction * 100).rounded(.down))
        return "the store is \(percent)% full (\(usage.usedBytes >> 20) MiB of its \(usage.sizeBytes >> 20) MiB map); "
            + "when it is full, Complete is refused. Restart pelletd with a larger --map-size, or lower "
            + "--retention-days."
    }
}
