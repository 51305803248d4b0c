import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Who may read the data directory, and who may use it.
///
/// Accounts, key hashes and usage are nobody else's business on the machine: the directory is
/// 0700 and the files pelletd owns in it are 0600. A directory or file left with looser modes
/// (by an older pelletd, a restore or a hand-made directory) is tightened when the store opens,
/// with a warning naming the path and both modes, so an operator sees what changed. And one
/// process at a time uses the directory: LMDB must not be opened twice by the same process, and
/// two servers would each think their budgets and rate limits are the only ones.
public enum DataDirectory {
    public static let directoryMode: mode_t = 0o700
    public static let fileMode: mode_t = 0o600
    /// The LMDB files, created by `mdb_env_open`.
    static let storeFiles = ["data.mdb", "lock.mdb"]
    /// Holds the `flock` of the process using the directory, and its pid for the message of the
    /// next one.
    public static let lockFileName = "pelletd.lock"

    /// Takes the directory for this process: creates it (0700, parents too) if missing, takes
    /// the lock, then tightens the directory and the LMDB files. Fails at once if another
    /// process holds the lock.
    static func open(_ path: String, logger: Logger) throws -> DataDirectoryLock {
        try makeDirectory(path)
        let lock = try DataDirectoryLock(directory: path)
        try tighten(path, to: directoryMode, logger: logger)
        for file in storeFiles + [lockFileName] {
            try tighten(path + "/" + file, to: fileMode, logger: logger)
        }
        return lock
    }

    /// Takes away the permission bits of `path` that `mode` does not have, with a warning; a
    /// stricter mode is kept, a missing path is left alone.
    public static func tighten(_ path: String, to mode: mode_t, logger: Logger) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw StoreError(code: errno, context: "cannot read the mode of \(path)")
        }
        let old = info.st_mode & 0o7777
        let new = old & mode
        guard new != old else { return }
        guard chmod(path, new) == 0 else {
            throw StoreError(code: errno, context: "cannot tighten the mode of \(path) from \(octal(old)) to \(octal(new))")
        }
        logger.warning(
            "\(path) had mode \(octal(old)), readable by others; changed it to \(octal(new))",
            metadata: ["path": "\(path)", "mode.old": "\(octal(old))", "mode.new": "\(octal(new))"]
        )
    }

    static func octal(_ mode: mode_t) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// `mkdir -p` with mode 0700 that reports the failing path's errno, so the operator reads
    /// "cannot open the data directory /x: permission denied" rather than a Foundation error.
    private static func makeDirectory(_ path: String) throws {
        var info = stat()
        if stat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else { throw StoreError.dataDirectory(path, errno: ENOTDIR) }
            guard access(path, W_OK | X_OK) == 0 else { throw StoreError.dataDirectory(path, errno: errno) }
            return
        }
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, directoryMode) != 0 && errno != EEXIST {
                throw StoreError.dataDirectory(path, errno: errno)
            }
            prefix += "/"
        }
        // An existing component that is a regular file makes mkdir report EEXIST; the final
        // check catches it (and any other reason the directory is unusable).
        guard stat(path, &info) == 0 else { throw StoreError.dataDirectory(path, errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { throw StoreError.dataDirectory(path, errno: ENOTDIR) }
    }
}

/// An exclusive `flock` on the data directory's lock file, held from the store's opening to
/// its closing (or until the process dies: the kernel drops it then, so a crash leaves no stale
/// lock). `flock` locks belong to the open file, so a second store in the same process is
/// refused like a second process.
///
/// Not Sendable: its one owner, ``Environment``, releases it once, when the store closes.
final class DataDirectoryLock {
    private var descriptor: Int32

    init(directory: String) throws {
        let path = directory + "/" + DataDirectory.lockFileName
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, DataDirectory.fileMode)
        guard descriptor >= 0 else { throw StoreError.dataDirectory(directory, errno: errno) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            let holder = Self.holder(descriptor)
            close(descriptor)
            guard code == EWOULDBLOCK else { throw StoreError(code: code, context: "cannot lock \(path)") }
            throw StoreError(kind: .unavailable, message: "another \(holder) is using the data directory \(directory)")
        }
        // The pid is only for the message above; the lock is what counts.
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(descriptor, 0) != 0 || pwrite(descriptor, pid, pid.count, 0) != pid.count {
            let code = errno
            close(descriptor)
            throw StoreError(code: code, context: "cannot write \(path)")
        }
        self.descriptor = descriptor
    }

    deinit { release() }

    /// Drops the lock; later calls do nothing.
    func release() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }

    /// "pelletd (pid 1234)" from the pid the holder wrote and its `/proc` name, or "process"
    /// when either cannot be read.
    private static func holder(_ descriptor: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        guard count > 0, let pid = Int32(String(decoding: buffer[..<count], as: UTF8.self).trimmingWhitespace()),
            pid > 0
        else { return "process" }
        return "\(processName(pid) ?? "process") (pid \(pid))"
    }

    private static func processName(_ pid: Int32) -> String? {
        let descriptor = open("/proc/\(pid)/comm", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(descriptor, &buffer, buffer.count)
        guard count > 0 else { return nil }
        let name = String(decoding: buffer[..<count], as: UTF8.self).trimmingWhitespace()
        return name.isEmpty ? nil : name
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
