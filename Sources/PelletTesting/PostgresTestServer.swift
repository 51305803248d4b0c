import Foundation

/// A throwaway PostgreSQL server for cluster tests: a fresh cluster (`initdb`) in a temp
/// directory, listening on a free loopback port, trusting local connections, with fsync off
/// (nothing here must survive a power loss). Run as the current user, or as `postgres` when the
/// tests run as root (CI does), since PostgreSQL refuses to run as root.
///
/// `tools/install-deps` installs PostgreSQL from Debian's packages.
public final class PostgresTestServer: @unchecked Sendable {
    public let port: Int
    public let directory: TemporaryDirectory
    private let binaries: String
    private var dataDirectory: String { directory.file("data") }

    /// `postgres://pellet@127.0.0.1:PORT/postgres`
    public var url: String { "postgres://pellet@127.0.0.1:\(port)/postgres" }

    public init() throws {
        binaries = try Self.findBinaries()
        directory = try TemporaryDirectory(prefix: "pellet-postgres")
        port = try unusedLoopbackPort()
        if getuid() == 0 {
            try Self.run("/bin/chown", ["-R", "postgres", directory.path])
        }
        try runTool("initdb", ["-D", dataDirectory, "-U", "pellet", "--auth=trust", "-E", "UTF8", "--no-sync"])
        try start()
    }

    deinit {
        try? stop(immediately: true)
    }

    /// Starts the server (again) and waits until it takes connections.
    public func start() throws {
        try runTool("pg_ctl", [
            "-D", dataDirectory, "-l", directory.file("server.log"), "-w", "-t", "30",
            "-o", "-c listen_addresses=127.0.0.1 -p \(port) -k \(directory.path) -c fsync=off -c max_connections=200",
            "start",
        ])
    }

    /// Stops the server: `immediately` is a crash (SIGQUIT to every backend, no checkpoint,
    /// recovery at the next start), otherwise a fast shutdown.
    public func stop(immediately: Bool = false) throws {
        try runTool("pg_ctl", ["-D", dataDirectory, "-w", "-m", immediately ? "immediate" : "fast", "stop"])
    }

    /// Crashes the server as `kill -9` would: SIGKILL to the postmaster and every process it
    /// started (the backends would otherwise notice their parent's death and exit on their own
    /// time, still holding the shared memory a restart needs). No shutdown checkpoint; `start()`
    /// on the same data directory runs crash recovery. Returns once they are all gone.
    public func kill() throws {
        let lockFile = (try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8)) ?? ""
        guard let postmaster = lockFile.split(separator: "\n").first.flatMap({ pid_t($0) }), postmaster > 0 else {
            throw PostgresTestServerError("no running server in \(dataDirectory) (no postmaster.pid)")
        }
        // The children first read, then everyone killed at once: a child cannot be started after
        // its parent is stopped.
        let processes = [postmaster] + Self.children(of: postmaster)
        for process in processes { Foundation.kill(process, SIGKILL) }
        let deadline = ContinuousClock.now + .seconds(10)
        // The postmaster is not this process's child (pg_ctl started it), so its exit is seen in
        // /proc: gone, or a zombie until its parent (init) reaps it.
        while processes.contains(where: Self.isAlive) {
            guard ContinuousClock.now < deadline else {
                throw PostgresTestServerError("PostgreSQL's processes \(processes) did not exit after SIGKILL")
            }
            usleep(5_000)
        }
    }

    /// The processes whose parent is `parent` (Linux: field 4 of /proc/PID/stat).
    private static func children(of parent: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(pid_t.init).filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let afterName = stat.range(of: ") ", options: .backwards)
            else { return false }
            let fields = stat[afterName.upperBound...].split(separator: " ")
            return fields.count > 1 && pid_t(fields[1]) == parent
        }
    }

    /// Whether `pid` exists and is not a zombie.
    private static func isAlive(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let afterName = stat.range(of: ") ", options: .backwards)
        else { return false }
        return !stat[afterName.upperBound...].hasPrefix("Z")
    }

    /// Runs `sql` with psql; returns its unaligned, tuples-only output.
    @discardableResult
    public func psql(_ sql: String) throws -> String {
        try runTool("psql", ["-h", "127.0.0.1", "-p", "\(port)", "-U", "pellet", "-d", "postgres", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
    }

    @discardableResult
    private func runTool(_ tool: String, _ arguments: [String]) throws -> String {
        let path = binaries + "/" + tool
        if getuid() == 0 {
            return try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", path] + arguments, directory: directory.path)
        }
        return try Self.run(path, arguments, directory: directory.path)
    }

    /// The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/N/bin).
    private static func findBinaries() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init)
            .filter { FileManager.default.isExecutableFile(atPath: "\(root)/\($0)/bin/initdb") }
        guard let newest = versions.max() else {
            throw PostgresTestServerError("PostgreSQL is not installed (no \(root)/N/bin/initdb); tools/install-deps installs it")
        }
        return "\(root)/\(newest)/bin"
    }

    /// Runs a tool to its end with posix_spawn and waitpid. Its output goes to a file, not a
    /// pipe: the server `pg_ctl start` leaves running would hold a pipe's write end open. (Not
    /// Foundation's Process: its wait missed the exit of `runuser`, left a zombie, and hung.)
    @discardableResult
    private static func run(_ executable: String, _ arguments: [String], directory: String? = nil) throws -> String {
        let outputPath = (directory ?? NSTemporaryDirectory()) + "/.tool-output-\(UUID().uuidString)"
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // In `directory` (env -C): the postgres user may not enter the test's working directory.
        let command = directory.map { ["/usr/bin/env", "-C", $0, executable] } ?? [executable]
        let argv: [UnsafeMutablePointer<CChar>?] = (command + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, command[0], &actions, nil, argv, environ)
        guard spawned == 0 else {
            throw PostgresTestServerError("cannot run \(executable): errno \(spawned)")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw PostgresTestServerError("waitpid \(executable): errno \(errno)") }
        }
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        // WIFEXITED and WEXITSTATUS are macros: the exit code is bits 8-15 when the low 7 are 0.
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            throw PostgresTestServerError("\((executable as NSString).lastPathComponent) \(arguments.first ?? "") failed (status \(status)): \(text)")
        }
        return text
    }
}

public struct PostgresTestServerError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
