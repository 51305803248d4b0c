import Foundation
import PelletTesting
import XCTest

/// The real pelletd: one per data directory, and the Unix socket's group.
final class PelletdDataDirectoryTests: XCTestCase {
    func testASecondPelletdOnTheSameDataDirectoryExitsAtOnceNamingTheFirst() throws {
        let first = try PelletdProcess.start()
        let started = ContinuousClock.now
        // Its own socket, so that only the data directory is shared.
        let otherSocket = try TemporaryDirectory()
        let second = try PelletdProcess.launch(
            dataDirectory: first.dataDirectory,
            arguments: ["--unix", otherSocket.file("pellet.sock")]
        ).waitForExit(timeout: .seconds(10))
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5))
        second.assertRefusedToStart(
            mentioning:
                "another pelletd (pid \(first.subprocess.processIdentifier)) is using the data directory \(first.dataDirectory)"
        )
        XCTAssertFalse(FileManager.default.fileExists(atPath: otherSocket.file("pellet.sock")))

        try pelletctl("health", "--server", first.unixAddress).assertSucceeded()
        try first.stop()
        // Once the first has stopped, the directory is free again.
        try PelletdProcess.start(dataDirectory: first.dataDirectory).stop()
    }

    func testTheDataDirectoryAndItsFilesArePrivate() throws {
        let directory = try TemporaryDirectory()
        let dataDirectory = directory.file("data")
        XCTAssertEqual(mkdir(dataDirectory, 0o755), 0)
        XCTAssertEqual(chmod(dataDirectory, 0o755), 0)
        let pelletd = try PelletdProcess.start(dataDirectory: dataDirectory)
        try pelletd.stop()
        XCTAssertTrue(
            pelletd.subprocess.stderr.contains("\(dataDirectory) had mode 0755, readable by others; changed it to 0700"),
            pelletd.subprocess.stderr
        )
        for (name, expected) in [("", 0o700), ("data.mdb", 0o600), ("lock.mdb", 0o600), ("admin.token", 0o600)] as [(String, mode_t)] {
            var info = stat()
            XCTAssertEqual(stat(dataDirectory + "/" + name, &info), 0, name)
            XCTAssertEqual(String(info.st_mode & 0o777, radix: 8), String(expected, radix: 8), name)
        }

        // A token file left readable by others is tightened too.
        XCTAssertEqual(chmod(dataDirectory + "/admin.token", 0o644), 0)
        let again = try PelletdProcess.start(dataDirectory: dataDirectory)
        try again.stop()
        XCTAssertTrue(again.subprocess.stderr.contains("admin.token had mode 0644"), again.subprocess.stderr)
        var info = stat()
        XCTAssertEqual(stat(dataDirectory + "/admin.token", &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
    }

    /// A group the socket would not get by default: one the user belongs to besides the
    /// primary group, or any group when the tests run as root.
    private func otherGroup() throws -> (name: String, gid: gid_t) {
        var candidates: [gid_t] = []
        if geteuid() == 0 {
            candidates = [65534, 1, 2, 3]
        } else {
            var groups = [gid_t](repeating: 0, count: Int(getgroups(0, nil)))
            let count = getgroups(Int32(groups.count), &groups)
            candidates = Array(groups.prefix(Int(max(count, 0))))
        }
        for gid in candidates where gid != getegid() {
            if let entry = getgrgid(gid), let name = entry.pointee.gr_name {
                return (String(cString: name), gid)
            }
        }
        throw XCTSkip("the user is in no group but its primary one")
    }

    func testUnixGroupSetsTheSocketsGroupAndKeepsMode0660() throws {
        let group = try otherGroup()
        let pelletd = try PelletdProcess.start(arguments: ["--unix-group", group.name])
        let socketPath = try XCTUnwrap(pelletd.unixPath)
        var info = stat()
        XCTAssertEqual(stat(socketPath, &info), 0)
        XCTAssertEqual(info.st_gid, group.gid, "the socket's group")
        XCTAssertEqual(String(info.st_mode & 0o777, radix: 8), "660")
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFSOCK)
        try pelletctl("health", "--server", pelletd.unixAddress).assertSucceeded()
        try pelletd.stop()
    }

    func testAnUnknownUnixGroupFailsAtStartUp() throws {
        let directory = try TemporaryDirectory()
        let result = try PelletdProcess.launch(
            dataDirectory: directory.path,
            arguments: ["--unix-group", "no-such-group-pellet"]
        ).waitForExit(timeout: .seconds(10))
        result.assertRefusedToStart(mentioning: "--unix-group: there is no group named no-such-group-pellet")
        XCTAssertEqual(result.stderrLines.filter { !$0.isEmpty }.count, 1, result.stderr)
    }
}
