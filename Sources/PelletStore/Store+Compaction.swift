import CLMDB
import PelletWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension Store {
    /// Rewrites data.mdb with only its live pages and puts the copy in use, so that the bytes
    /// of deleted records (deleted accounts, expired request records), which LMDB keeps in its
    /// freed pages, are gone from the file. Safe while the store is serving.
    ///
    /// Runs alone on the writer thread: writes queued meanwhile wait and then commit into the
    /// new file, so nothing acknowledged is lost. Reads go on during the copy and wait only for
    /// the swap (a rename, a directory sync and reopening the environment). If the copy or the
    /// rename fails, the old file stays in use, the partial copy is removed and the error is
    /// thrown. Logs one line with the sizes and how long writes were held.
    public func compact() async throws -> CompactionReport {
        let report = try await withCheckedThrowingContinuation { continuation in
            writer.enqueue(
                ExclusiveJob(
                    work: { [self] in try compactOnWriterThread() },
                    completion: { continuation.resume(with: $0) }
                )
            )
        }
        logger.info(
            "store compacted",
            metadata: [
                "store.bytes_before": "\(report.bytesBefore)",
                "store.bytes_after": "\(report.bytesAfter)",
                "store.writes_held_ms": "\(report.durationMs)",
            ]
        )
        return report
    }

    /// The compaction itself; runs on the writer thread with no transaction open.
    private func compactOnWriterThread() throws -> CompactionReport {
        let started = monotonicNanoseconds()
        let environment = self.environment
        let copy = environment.compactedFile
        let bytesBefore = try fileSize(environment.dataFile)
        let bytesAfter: UInt64
        do {
            try writeCompactedCopy(of: environment, to: copy)
            bytesAfter = try fileSize(copy)
            try readers.withReadsPaused { try environment.swapDataFile(with: copy) }
        } catch {
            unlink(copy)
            throw error
        }
        let heldMilliseconds = (monotonicNanoseconds() &- started) / 1_000_000
        return CompactionReport(
            bytesBefore: bytesBefore,
            bytesAfter: bytesAfter,
            durationMs: UInt32(clamping: heldMilliseconds)
        )
    }
}

/// `mdb_env_copyfd2(MDB_CP_COMPACT)` of `environment` into a new file of mode 0600 (it holds
/// account data), synced before it may replace data.mdb. The copy reads a snapshot like any
/// reader. (Free functions: inside `Store`, `close` would name ``Store/close()``.)
private func writeCompactedCopy(of environment: Environment, to path: String) throws {
    // A leftover of an earlier failure would make O_EXCL fail.
    unlink(path)
    let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else { throw StoreError(code: errno, context: "cannot create \(path)") }
    do {
        try check(
            mdb_env_copyfd2(environment.handle, descriptor, UInt32(MDB_CP_COMPACT)),
            "cannot write the compacted copy \(path)"
        )
        guard fsync(descriptor) == 0 else { throw StoreError(code: errno, context: "cannot sync \(path)") }
    } catch {
        close(descriptor)
        throw error
    }
    guard close(descriptor) == 0 else { throw StoreError(code: errno, context: "cannot close \(path)") }
}

private func fileSize(_ path: String) throws -> UInt64 {
    var info = stat()
    guard stat(path, &info) == 0 else { throw StoreError(code: errno, context: "cannot stat \(path)") }
    return UInt64(info.st_size)
}

/// A job for ``Writer`` that runs outside any transaction, alone on the writer thread
/// (compaction), and hands its result to `completion` there.
///
/// `Sendable` without `@unchecked`: it holds only `let`s of Sendable types.
final class ExclusiveJob<Value: Sendable>: ExclusiveWork, Sendable {
    let runsAlone = true
    private let work: @Sendable () throws -> Value
    private let completion: @Sendable (Result<Value, any Error>) -> Void

    init(
        work: @escaping @Sendable () throws -> Value,
        completion: @escaping @Sendable (Result<Value, any Error>) -> Void
    ) {
        self.work = work
        self.completion = completion
    }

    func run() {
        completion(Result { try work() })
    }

    /// Never called: the writer calls `run` for exclusive work.
    func apply(_ transaction: WriteTransaction) throws {
        throw StoreError(kind: .io, message: "exclusive work was given a transaction")
    }

    func succeed() {}

    /// The writer had stopped: the work never ran.
    func fail(_ error: any Error) {
        completion(.failure(error))
    }
}
