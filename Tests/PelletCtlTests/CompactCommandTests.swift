import Foundation
import PelletTesting
import XCTest

/// `pelletctl compact` against a real pelletd, and pelletd's automatic compaction after an
/// account deletion: the deleted account's bytes leave data.mdb.
final class CompactCommandTests: XCTestCase {
    private let adminToken = "compact-command-admin-token-0123456789"

    func testDeletionCompactsAutomaticallyAndCompactPrintsTheReport() throws {
        let pelletd = try PelletdProcess.start(environment: ["PELLET_ADMIN_TOKEN": adminToken])
        let admin = ["--server", pelletd.unixAddress, "--admin-token", adminToken]
        func ctl(_ arguments: [String]) throws -> ProcessResult {
            try Subprocess(Binaries.pelletctl, arguments + admin).waitForExit()
        }
        func accountID(_ email: String) throws -> String {
            let created = try ctl(["account", "create", "--name", "Compact \(email)", "--email", email, "--json"])
            created.assertSucceeded()
            return try XCTUnwrap(try jsonObject(created.stdout)["id"] as? String)
        }
        let marker = UInt64.random(in: 1_000_000_000...9_999_999_999)
        let doomedEmail = "doomed-\(marker)@example.com"
        let doomed = try accountID(doomedEmail)
        _ = try accountID("kept-\(marker)@example.com")
        // (Its stderr holds the "shown only once" warning, so only the status is checked.)
        XCTAssertEqual(try ctl(["key", "create", doomed]).status, 0)

        // The first deletion since start compacts at once, by itself.
        try ctl(["account", "delete", doomed, "--yes"]).assertSucceeded()
        let log = try pelletd.subprocess.waitForStderr { $0.contains("store compacted") }
        XCTAssertEqual(try filesContaining(doomedEmail.utf8, in: pelletd.dataDirectory), [])
        XCTAssertEqual(try filesContaining("kept-\(marker)".utf8, in: pelletd.dataDirectory), ["data.mdb"])
        let line = try XCTUnwrap(ProcessResult.lines(log).first { $0.contains("store compacted") })
        for key in ["store.bytes_before", "store.bytes_after", "store.writes_held_ms"] {
            XCTAssertTrue(line.contains(try Regex("\\b\(key)=\\d+\\b")), line)
        }

        // A second deletion within the day waits for the day's end (--compact-interval-hours).
        let second = try accountID("second-\(marker)@example.com")
        try ctl(["account", "delete", second, "--yes"]).assertSucceeded()

        let text = try ctl(["compact"])
        text.assertSucceeded()
        assertLines(
            text.stdout,
            match: [#"compacted data\.mdb: \d+(\.\d)? (B|KiB|MiB) → \d+(\.\d)? (B|KiB|MiB), writes held \d+ ms"#]
        )
        XCTAssertEqual(try filesContaining("second-\(marker)".utf8, in: pelletd.dataDirectory), [])

        let json = try ctl(["compact", "--json"])
        json.assertSucceeded()
        let report = try jsonObject(json.stdout)
        XCTAssertEqual(Set(report.keys), ["bytes_before", "bytes_after", "duration_ms"])
        let after = try XCTUnwrap(report["bytes_after"] as? Int)
        let attributes = try FileManager.default.attributesOfItem(atPath: pelletd.dataDirectory + "/data.mdb")
        let size = try XCTUnwrap(attributes[.size] as? Int)
        XCTAssertEqual(after, size, "the report gives the new file's size")

        let denied = try Subprocess(
            Binaries.pelletctl, ["compact", "--server", pelletd.unixAddress, "--admin-token", "wrong"]
        ).waitForExit()
        XCTAssertEqual(denied.status, 1)
        XCTAssertTrue(denied.stderr.hasPrefix("error: PERMISSION_DENIED:"), denied.stderr)

        let stopped = try pelletd.stop()
        XCTAssertEqual(stopped.status, 0)
        let compactions = ProcessResult.lines(stopped.stderr).filter { $0.contains("store compacted") }
        XCTAssertEqual(
            compactions.count, 4,
            "the first deletion's, two asked for, and the second deletion's (due in a day) run at shutdown"
        )
        XCTAssertFalse(stopped.stderr.contains(doomedEmail), "the log holds no account data")
    }
}
