import Foundation
import PelletTesting
import XCTest

/// pelletctl's exit statuses and error lines: 1 for a call that fails, 2 for a usage error.
final class CommandErrorTests: XCTestCase {
    func testAnUnreachableUnixSocketIsUnavailable() throws {
        for command in ["health", "ping"] {
            let result = try pelletctl(command, "--server", "unix:/nonexistent/x.sock")
            XCTAssertEqual(result.status, 1, "\(command): \(result.stderr)")
            XCTAssertEqual(result.stdout, "")
            assertLines(
                result.stderr,
                match: [
                    "error: UNAVAILABLE: .*unix:/nonexistent/x\\.sock.*"
                        + literal("; check that pelletd is running and listening on unix:/nonexistent/x.sock")
                ]
            )
        }
    }

    func testAMissingDefaultSocketSuggestsTheFlags() throws {
        let directory = try TemporaryDirectory()
        let result = try pelletctl("health", "--data-dir", directory.path)
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertEqual(result.stdout, "")
        assertLines(
            result.stderr,
            match: [
                "error: UNAVAILABLE: .*"
                    + literal("listening on unix:\(directory.path)/pellet.sock (or pass --server or --data-dir)")
            ]
        )
    }

    func testAClosedTCPPortIsUnavailable() throws {
        let port = try unusedLoopbackPort()
        let result = try pelletctl("ping", "--server", "tcp://127.0.0.1:\(port)")
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertEqual(result.stdout, "")
        assertLines(result.stderr, match: ["error: UNAVAILABLE: .*" + literal("tcp://127.0.0.1:\(port)") + ".*"])
    }

    func testABadServerAddressIsAUsageError() throws {
        for (address, reason) in [
            ("foo", #"it does not start with "unix:", "tcp://" or "tls://""#),
            ("tcp://127.0.0.1", "the port is missing after the host"),
            ("tls://127.0.0.1", "the port is missing after the host"),
            ("tcp://127.0.0.1:99999", #"the port "99999" is not a number from 1 to 65535"#),
            ("unix:", #"the socket path after "unix:" is empty"#),
        ] {
            let result = try pelletctl("health", "--server", address)
            XCTAssertEqual(result.status, 2, "\(address): \(result.stderr)")
            XCTAssertEqual(result.stdout, "")
            XCTAssertTrue(
                result.stderr.contains(#""\#(address)" is not a Pellet server address: \#(reason)"#),
                result.stderr
            )
            XCTAssertTrue(result.stderr.contains("write unix:PATH"), result.stderr)
        }
    }

    func testOutOfRangeOptionsAreUsageErrors() throws {
        for (arguments, message) in [
            (["ping", "--payload-bytes", "65"], "--payload-bytes must be from 0 to 64, not 65"),
            (["ping", "--count", "0"], "--count must be at least 1, not 0"),
            (["health", "--timeout-ms", "0"], "--timeout-ms must be from 1 to 4294967295, not 0"),
            (["health", "--data-dir", ""], "--data-dir may not be empty"),
        ] {
            let result = try Subprocess(Binaries.pelletctl, arguments).waitForExit()
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stdout, "")
            XCTAssertTrue(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
    }

    func testUnknownOptionsAndCommandsAreUsageErrors() throws {
        for arguments in [["health", "--bogus"], ["frobnicate"], ["ping", "--count", "many"]] {
            let result = try Subprocess(Binaries.pelletctl, arguments).waitForExit()
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stdout, "")
            XCTAssertFalse(result.stderr.isEmpty)
        }
    }

    func testHelpExitsZero() throws {
        let result = try pelletctl("--help")
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("health"), result.stdout)
        XCTAssertTrue(result.stdout.contains("ping"), result.stdout)
        XCTAssertTrue(result.stdout.contains("Exit status: 0 on success, 1 when a call fails"), result.stdout)
    }
}
