import Foundation
import PelletClient
import PelletTesting
import XCTest

/// The real pelletd binary: start-up failures, the admin token, signals and clean-up.
final class PelletdLifecycleTests: XCTestCase {
    func testADataDirectoryUnderARegularFileFailsAtOnceNamingThePath() throws {
        let directory = try TemporaryDirectory()
        XCTAssertTrue(FileManager.default.createFile(atPath: directory.file("file"), contents: Data("x".utf8)))
        let dataDirectory = directory.file("file") + "/sub"

        let started = ContinuousClock.now
        let result = try PelletdProcess.launch(dataDirectory: dataDirectory).waitForExit(timeout: .seconds(10))
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5))
        XCTAssertFalse(result.wasSignalled)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(result.stdout, "")
        let lines = result.stderrLines.filter { !$0.isEmpty }
        XCTAssertEqual(lines.count, 1, "one readable line, not a stack trace or usage text: \(result.stderr)")
        XCTAssertTrue(lines.first?.contains("cannot create the data directory \(dataDirectory)") == true, result.stderr)
    }

    func testASecondPelletdOnTheSameSocketIsRefusedAndTheFirstLivesOn() throws {
        let first = try PelletdProcess.start()
        let socketPath = try XCTUnwrap(first.unixPath)
        let otherDirectory = try TemporaryDirectory()

        let second = try PelletdProcess.launch(
            dataDirectory: otherDirectory.path,
            arguments: ["--unix", socketPath]
        ).waitForExit(timeout: .seconds(10))
        second.assertRefusedToStart(mentioning: "already listening on \(socketPath)")

        // The refused server removed nothing: the first still answers on its socket.
        XCTAssertTrue(FileManager.default.fileExists(atPath: socketPath))
        let health = try pelletctl("health", "--server", first.unixAddress)
        health.assertSucceeded()
        try first.stop()
    }

    func testATakenTCPPortFailsStartUp() throws {
        let first = try PelletdProcess.start()
        let port = try XCTUnwrap(first.tcpPort)
        let otherDirectory = try TemporaryDirectory()

        let second = try PelletdProcess.launch(
            dataDirectory: otherDirectory.path,
            arguments: ["--tcp", "127.0.0.1:\(port)"]
        ).waitForExit(timeout: .seconds(10))
        second.assertRefusedToStart(mentioning: "cannot listen")
        XCTAssertTrue(second.stderr.contains("in use"), second.stderr)

        try pelletctl("health", "--server", first.tcpAddress).assertSucceeded()
        try first.stop()
    }

    func testNothingToListenOnIsAnError() throws {
        let directory = try TemporaryDirectory()
        let result = try PelletdProcess.launch(
            dataDirectory: directory.path,
            arguments: ["--unix", "off", "--tcp", "off"]
        ).waitForExit(timeout: .seconds(10))
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("nothing to listen on"), result.stderr)
    }

    func testTheAdminTokenIsGeneratedOnceWithMode0600AndReused() throws {
        let directory = try TemporaryDirectory()
        // A data directory that does not exist yet, two levels deep.
        let dataDirectory = directory.file("var/pellet")
        let tokenPath = dataDirectory + "/admin.token"

        let first = try PelletdProcess.start(dataDirectory: dataDirectory)
        XCTAssertTrue(first.subprocess.stderr.contains("generated a new admin token"), first.subprocess.stderr)
        var info = stat()
        XCTAssertEqual(stat(tokenPath, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFREG)
        let token = try String(contentsOfFile: tokenPath, encoding: .utf8)
        XCTAssertNotNil(token.wholeMatch(of: #/padm_[0-9A-Za-z]{43}\n/#), token.debugDescription)
        XCTAssertFalse(first.subprocess.stderr.contains(String(token.dropLast())), "the token must never be logged")
        try first.stop()

        let second = try PelletdProcess.start(dataDirectory: dataDirectory)
        XCTAssertFalse(second.subprocess.stderr.contains("generated"), second.subprocess.stderr)
        XCTAssertEqual(try String(contentsOfFile: tokenPath, encoding: .utf8), token)
        XCTAssertEqual(stat(tokenPath, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
        try second.stop()
    }

    func testATokenFromTheEnvironmentWritesNoFile() throws {
        let token = "padm_from_the_environment_0123456789"
        let pelletd = try PelletdProcess.start(environment: ["PELLET_ADMIN_TOKEN": token])
        XCTAssertFalse(FileManager.default.fileExists(atPath: pelletd.dataDirectory + "/admin.token"))
        try pelletd.stop()
    }

    func testSIGTERMStopsGracefullyAndRemovesTheSocket() throws {
        try assertGracefulStop(on: SIGTERM, named: "SIGTERM")
    }

    func testSIGINTStopsGracefullyToo() throws {
        try assertGracefulStop(on: SIGINT, named: "SIGINT")
    }

    /// A connection with no call in flight gets its GOAWAY and is closed at once: pelletd does
    /// not sit out the grace period for it.
    func testAnIdleConnectionDoesNotHoldUpShutdown() async throws {
        let pelletd = try PelletdProcess.start(arguments: ["--shutdown-grace-ms", "8000"])
        let client = try await PelletClient.connect(to: .unix(path: try XCTUnwrap(pelletd.unixPath)))
        _ = try await client.ping()

        let started = ContinuousClock.now
        let result = try pelletd.stop()
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(4), "waited for the grace period: \(result.stderr)")
        XCTAssertFalse(result.stderr.contains("grace period over"), result.stderr)
        do {
            _ = try await client.ping(timeout: .seconds(2))
            XCTFail("a ping after shutdown must fail")
        } catch {
            XCTAssertEqual(error.status, .unavailable, "\(error)")
        }
        await client.close()
    }

    /// "ready" must mean ready for SIGTERM too: a supervisor that stops pelletd right after it
    /// started must not find it still running. (pelletd sets SIG_IGN and then registers a
    /// DispatchSource, which libdispatch does asynchronously: a signal in between is dropped.)
    func testASIGTERMSentAsSoonAsPelletdIsReadyIsHandled() throws {
        for attempt in 1...30 {
            let pelletd = try PelletdProcess.start()
            pelletd.subprocess.signal(SIGTERM)
            do {
                let result = try pelletd.subprocess.waitForExit(timeout: .seconds(5))
                XCTAssertEqual(result.status, 0, "attempt \(attempt): \(result.stderr)")
                XCTAssertTrue(result.stderr.contains("received SIGTERM"), "attempt \(attempt): \(result.stderr)")
            } catch {
                XCTFail(
                    "attempt \(attempt): a SIGTERM sent just after \"ready\" was lost; pelletd kept running. \(error)"
                )
                return
            }
        }
    }

    private func assertGracefulStop(on signal: Int32, named name: String, line: UInt = #line) throws {
        let pelletd = try PelletdProcess.start()
        let socketPath = try XCTUnwrap(pelletd.unixPath)
        XCTAssertEqual(socketPath, pelletd.dataDirectory + "/pellet.sock")
        XCTAssertTrue(FileManager.default.fileExists(atPath: socketPath))
        try pelletctl("ping", "-c", "1", "--server", pelletd.unixAddress).assertSucceeded(line: line)

        try pelletd.waitUntilCatching(signal)
        pelletd.subprocess.signal(signal)
        let result = try pelletd.subprocess.waitForExit(timeout: .seconds(15))
        XCTAssertFalse(result.wasSignalled, "killed by signal \(result.status)", line: line)
        XCTAssertEqual(result.status, 0, result.stderr, line: line)
        XCTAssertTrue(result.stderr.contains("received \(name), shutting down gracefully"), result.stderr, line: line)
        XCTAssertTrue(
            result.stderrLines.contains { $0.hasSuffix("[pelletd] pelletd stopped") },
            result.stderr,
            line: line
        )
        XCTAssertFalse(FileManager.default.fileExists(atPath: socketPath), "the socket file is left behind", line: line)

        let after = try pelletctl("health", "--server", pelletd.tcpAddress)
        XCTAssertEqual(after.status, 1, "the TCP listener is closed too", line: line)
    }
}
