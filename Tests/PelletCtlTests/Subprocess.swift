import Foundation
import PelletTesting

/// How a finished process ended and what it printed.
struct ProcessResult {
    /// The exit code, or the number of the signal that killed it (see `wasSignalled`).
    var status: Int32
    var wasSignalled: Bool
    var stdout: String
    var stderr: String

    /// The lines of stdout, without the final newline's empty line.
    var stdoutLines: [String] { Self.lines(stdout) }
    var stderrLines: [String] { Self.lines(stderr) }

    static func lines(_ text: String) -> [String] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        return lines
    }
}

struct SubprocessError: Error, CustomStringConvertible, Sendable {
    let description: String
}

/// A child process whose stdout and stderr go to files (so a chatty child never blocks on a
/// full pipe, and a test can read what it has printed so far).
final class Subprocess {
    let executable: URL
    let arguments: [String]
    private let process = Process()
    private let outputDirectory: TemporaryDirectory

    /// Starts `executable`. The environment is this process's without `PELLET_ADMIN_TOKEN`,
    /// `PELLET_API_KEY` and provider keys (so the tests do not depend on the caller's shell), plus
    /// `environment`.
    init(_ executable: URL, _ arguments: [String], environment: [String: String] = [:]) throws {
        self.executable = executable
        self.arguments = arguments
        outputDirectory = try TemporaryDirectory(prefix: "pellet-out")
        for name in ["stdout", "stderr"] {
            guard FileManager.default.createFile(atPath: outputDirectory.file(name), contents: nil) else {
                throw SubprocessError(description: "cannot create \(outputDirectory.file(name))")
            }
        }
        var fullEnvironment = ProcessInfo.processInfo.environment
        fullEnvironment["PELLET_ADMIN_TOKEN"] = nil
        // Nor on real provider keys in the caller's shell: pelletd would enable those providers.
        for variable in ["TOGETHER_API_KEY", "FIREWORKS_API_KEY", "GROQ_API_KEY", "PELLET_API_KEY"] {
            fullEnvironment[variable] = nil
        }
        fullEnvironment.merge(environment) { _, new in new }
        process.executableURL = executable
        process.arguments = arguments
        process.environment = fullEnvironment
        process.standardInput = FileHandle.nullDevice
        let stdoutHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: outputDirectory.file("stdout")))
        let stderrHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: outputDirectory.file("stderr")))
        // The child has its own copies once it runs.
        defer {
            try? stdoutHandle.close()
            try? stderrHandle.close()
        }
        process.standardOutput = stdoutHandle
        process.standardError = stderrHandle
        try process.run()
    }

    var processIdentifier: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// What the process has written so far.
    var stdout: String { read("stdout") }
    var stderr: String { read("stderr") }

    func signal(_ number: Int32) {
        if process.isRunning { kill(process.processIdentifier, number) }
    }

    /// Waits for the process to end; after `timeout` it is killed and this throws, so a hang
    /// fails the test instead of blocking the run.
    @discardableResult
    func waitForExit(timeout: Duration = .seconds(30)) throws -> ProcessResult {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                throw SubprocessError(
                    description: "\(commandLine) did not exit within \(timeout); killed it. stderr: \(stderr)"
                )
            }
            usleep(2_000)
        }
        process.waitUntilExit()
        return ProcessResult(
            status: process.terminationStatus,
            wasSignalled: process.terminationReason == .uncaughtSignal,
            stdout: stdout,
            stderr: stderr
        )
    }

    /// Polls stderr until `predicate` holds on it; throws if the process exits first or
    /// `timeout` passes.
    func waitForStderr(timeout: Duration = .seconds(20), until predicate: (String) -> Bool) throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            let text = stderr
            if predicate(text) { return text }
            if !process.isRunning {
                process.waitUntilExit()
                throw SubprocessError(
                    description: "\(commandLine) exited (status \(process.terminationStatus)) before it was ready. "
                        + "stderr: \(stderr)"
                )
            }
            if ContinuousClock.now >= deadline {
                throw SubprocessError(description: "\(commandLine) was not ready within \(timeout). stderr: \(text)")
            }
            usleep(500)
        }
    }

    var commandLine: String {
        ([executable.lastPathComponent] + arguments).joined(separator: " ")
    }

    private func read(_ name: String) -> String {
        let data = FileManager.default.contents(atPath: outputDirectory.file(name)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    deinit {
        // A test that failed half-way must not leave a server running.
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Runs `pelletctl` to completion.
func pelletctl(_ arguments: String..., environment: [String: String] = [:]) throws -> ProcessResult {
    try pelletctl(arguments, environment: environment)
}

/// Runs `pelletctl` to completion, with arguments put together as an array.
func pelletctl(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
    try Subprocess(Binaries.pelletctl, arguments, environment: environment).waitForExit()
}
