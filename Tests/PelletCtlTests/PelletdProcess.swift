import Foundation
import PelletTesting

/// A real `pelletd` subprocess on a temp data directory and a TCP port chosen by the kernel.
final class PelletdProcess {
    let subprocess: Subprocess
    let dataDirectory: String
    /// The addresses from the "ready" line's `listen=` metadata.
    let unixPath: String?
    let tcpPort: Int?
    /// The metrics listener's "http://HOST:PORT" (`metrics=` of the ready line), if it is on.
    let metricsURL: String?

    /// Starts pelletd and waits for its "ready" line. Without `dataDirectory`, a fresh temp
    /// directory is used (kept alive as long as this value).
    static func start(
        dataDirectory: String? = nil,
        arguments: [String] = [],
        environment: [String: String] = [:]
    ) throws -> PelletdProcess {
        let temporary: TemporaryDirectory?
        let directory: String
        if let dataDirectory {
            (temporary, directory) = (nil, dataDirectory)
        } else {
            let fresh = try TemporaryDirectory(prefix: "pelletd")
            (temporary, directory) = (fresh, fresh.path)
        }
        let subprocess = try launch(dataDirectory: directory, arguments: arguments, environment: environment)
        let log = try subprocess.waitForStderr { $0.contains(" ready") }
        return PelletdProcess(subprocess: subprocess, dataDirectory: directory, readyLog: log, temporary: temporary)
    }

    /// Starts pelletd without waiting for it: for start-up failures. `--tcp 127.0.0.1:0` unless
    /// `arguments` has its own `--tcp`, and `--metrics-listen 127.0.0.1:0` (so that tests running
    /// at once never share the default port) unless it has its own.
    static func launch(
        dataDirectory: String,
        arguments: [String] = [],
        environment: [String: String] = [:]
    ) throws -> Subprocess {
        var fullArguments = ["--data-dir", dataDirectory]
        if !arguments.contains("--tcp") { fullArguments += ["--tcp", "127.0.0.1:0"] }
        if !arguments.contains("--metrics-listen") { fullArguments += ["--metrics-listen", "127.0.0.1:0"] }
        if !arguments.contains("--map-size"), let mapSize = Self.sanitizerMapSize {
            fullArguments += ["--map-size", "\(mapSize)"]
        }
        return try Subprocess(Binaries.pelletd, fullArguments + arguments, environment: environment)
    }

    /// Under a sanitizer (`tools/test --sanitize` sets PELLET_SANITIZER) the default 8 TiB map
    /// does not fit beside the sanitizer's shadow memory ("cannot allocate memory"), so the
    /// pelletd of these tests get 1 GiB instead; nil otherwise, when they test the default.
    static let sanitizerMapSize: Int? =
        ProcessInfo.processInfo.environment["PELLET_SANITIZER"] == nil ? nil : 1 << 30

    private let temporary: TemporaryDirectory?

    private init(subprocess: Subprocess, dataDirectory: String, readyLog: String, temporary: TemporaryDirectory?) {
        self.subprocess = subprocess
        self.dataDirectory = dataDirectory
        self.temporary = temporary
        let readyLine = ProcessResult.lines(readyLog).first { $0.contains(" ready") } ?? ""
        unixPath = readyLine.firstMatch(of: #/listen=(?:\S+ )*?unix:(\S+)/#).map { String($0.1) }
        tcpPort = readyLine.firstMatch(of: #/listen=(?:\S+ )*?tcp://[^ ]+:(\d+)/#).flatMap { Int($0.1) }
        metricsURL = readyLine.firstMatch(of: #/metrics=(http://\S+)/#).map { String($0.1) }
    }

    var unixAddress: String { "unix:\(unixPath ?? "")" }
    var tcpAddress: String { "tcp://127.0.0.1:\(tcpPort ?? 0)" }

    /// SIGTERM (once pelletd catches it), then waits for the exit.
    @discardableResult
    func stop(timeout: Duration = .seconds(15)) throws -> ProcessResult {
        try waitUntilCatching(SIGTERM)
        subprocess.signal(SIGTERM)
        return try subprocess.waitForExit(timeout: timeout)
    }

    /// Waits until pelletd has a handler for `signal` (Linux: its bit in `SigCgt` of
    /// /proc/PID/status; elsewhere this returns at once).
    ///
    /// pelletd's signal handling is installed asynchronously and may not be in place yet when
    /// "ready" is logged; tests of other things wait here rather than trip over that window.
    /// `PelletdLifecycleTests.testASIGTERMSentAsSoonAsPelletdIsReadyIsHandled` covers the window
    /// itself.
    func waitUntilCatching(_ signal: Int32, timeout: Duration = .seconds(5)) throws {
        let statusPath = "/proc/\(subprocess.processIdentifier)/status"
        guard FileManager.default.fileExists(atPath: statusPath) else { return }
        let deadline = ContinuousClock.now + timeout
        while true {
            let status = (try? String(contentsOfFile: statusPath, encoding: .utf8)) ?? ""
            let caught = status.firstMatch(of: #/SigCgt:\s*([0-9a-fA-F]+)/#).flatMap { UInt64($0.1, radix: 16) } ?? 0
            if caught & (1 << UInt64(signal - 1)) != 0 { return }
            guard subprocess.isRunning else { return }
            if ContinuousClock.now >= deadline {
                throw SubprocessError(
                    description: "pelletd did not install a handler for signal \(signal) within \(timeout)"
                )
            }
            usleep(1_000)
        }
    }
}
