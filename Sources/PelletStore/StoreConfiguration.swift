#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How the store is opened.
public struct StoreConfiguration: Sendable {
    /// When a committed write reaches the disk.
    public enum Durability: Sendable, Equatable {
        /// Every commit is synced before any of its callers is completed: an acknowledged write
        /// survives `kill -9` and power loss.
        case full
        /// Commits are written to the data file but not synced (`MDB_NOSYNC`): an acknowledged
        /// write survives `kill -9` of the process. A thread of its own syncs the file within
        /// ``batchedFlushInterval`` of a commit, so a crash of the machine (not of the process)
        /// may lose at most the last interval (plus the sync in progress). pelletd's default.
        case batched
    }

    /// The directory holding `data.mdb` and `lock.mdb`; created if missing.
    public var dataDirectory: String
    /// The size of the memory map, which is the most the data can grow to. A sparse
    /// reservation: it costs address space, not disk.
    public var mapSizeBytes: Int
    public var durability: Durability
    /// How often `.batched` durability syncs.
    public var batchedFlushInterval: Duration
    /// LMDB reader slots: at most this many read transactions may be open at once.
    public var maxReaders: Int
    /// How often dead readers' slots are reclaimed (a crashed process can leave slots behind).
    public var readerCheckInterval: Duration
    /// The current time in unix milliseconds; injected so tests control timestamps.
    public var now: @Sendable () -> UInt64

    public init(
        dataDirectory: String,
        mapSizeBytes: Int = StoreConfiguration.defaultMapSizeBytes,
        durability: Durability = .full,
        batchedFlushInterval: Duration = .milliseconds(5),
        maxReaders: Int = 126,
        readerCheckInterval: Duration = .seconds(60),
        now: @escaping @Sendable () -> UInt64 = StoreConfiguration.systemClock
    ) {
        self.dataDirectory = dataDirectory
        self.mapSizeBytes = mapSizeBytes
        self.durability = durability
        self.batchedFlushInterval = batchedFlushInterval
        self.maxReaders = maxReaders
        self.readerCheckInterval = readerCheckInterval
        self.now = now
    }

    /// The default map, 8 TiB: a node taking 1,000 Complete calls/s for the default 90 days of
    /// retention writes about 3 TiB (424 bytes per call, measured by StoreSizingTests), so this
    /// holds that with more than 2× to spare. LMDB's map is a reservation of address space (128
    /// TiB on x86-64 and arm64), not of disk: the file grows only as pages are written.
    public static let defaultMapSizeBytes = 8 << 40

    /// The wall clock in unix milliseconds.
    public static let systemClock: @Sendable () -> UInt64 = {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return UInt64(spec.tv_sec) * 1000 + UInt64(spec.tv_nsec) / 1_000_000
    }
}

extension Duration {
    /// Whole nanoseconds, saturating; the writer's timers compare monotonic nanoseconds.
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : whole &+ UInt64(attoseconds / 1_000_000_000)
    }
}
