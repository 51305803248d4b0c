import Foundation
import PelletStore
import PelletTesting
import XCTest

/// The data directory is private (0700, files 0600) and used by one store at a time.
final class DataDirectoryTests: StoreTestCase {
    private func mode(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> mode_t {
        var info = stat()
        XCTAssertEqual(stat(path, &info), 0, "\(path): \(String(cString: strerror(errno)))", file: file, line: line)
        return info.st_mode & 0o7777
    }

    private func octal(_ mode: mode_t) -> String { "0" + String(mode, radix: 8) }

    private func assertPrivate(_ path: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(octal(mode(path)), "0700", path, file: file, line: line)
        for name in ["data.mdb", "lock.mdb", DataDirectory.lockFileName] {
            XCTAssertEqual(octal(mode(path + "/" + name)), "0600", name, file: file, line: line)
        }
    }

    func testANewDataDirectoryIsPrivate() throws {
        let path = directory + "/var/pellet"
        var settings = configuration()
        settings.dataDirectory = path
        let store = try openStore(settings)
        assertPrivate(path)
        XCTAssertEqual(octal(mode(directory + "/var")), "0700", "parents made on the way are private too")
        store.close()
    }

    func testAnExistingLooseDirectoryAndItsFilesAreTightenedWithAWarning() throws {
        try openStore().close()
        XCTAssertEqual(chmod(directory, 0o755), 0)
        for name in ["data.mdb", "lock.mdb"] {
            XCTAssertEqual(chmod(directory + "/" + name, 0o644), 0)
        }
        let recorder = LogRecorder()
        let store = try Store(configuration: configuration(), logger: recorder.logger)
        defer { store.close() }
        assertPrivate(directory)
        let warnings = recorder.lines.filter { $0.hasPrefix("warning: ") }
        XCTAssertEqual(
            warnings.sorted(),
            [
                "warning: \(directory) had mode 0755, readable by others; changed it to 0700",
                "warning: \(directory)/data.mdb had mode 0644, readable by others; changed it to 0600",
                "warning: \(directory)/lock.mdb had mode 0644, readable by others; changed it to 0600",
            ].sorted()
        )

        // Stricter modes are kept, and a private directory opens without a word.
        store.close()
        XCTAssertEqual(chmod(directory + "/data.mdb", 0o400), 0)
        let quiet = LogRecorder()
        try Store(configuration: configuration(), logger: quiet.logger).close()
        XCTAssertEqual(quiet.lines.filter { $0.hasPrefix("warning: ") }, [])
        XCTAssertEqual(octal(mode(directory + "/data.mdb")), "0400")
        XCTAssertEqual(chmod(directory + "/data.mdb", 0o600), 0)
    }

    func testASecondStoreOnTheSameDirectoryIsRefusedUntilTheFirstCloses() async throws {
        let first = try openStore()
        let message = await assertStoreError(.unavailable) { try Store(configuration: self.configuration()) }
        XCTAssertEqual(
            message,
            "another \(ProcessInfo.processInfo.processName.prefix(15)) (pid \(getpid())) is using the data directory \(directory)"
        )
        let pidFile = try String(contentsOfFile: directory + "/" + DataDirectory.lockFileName, encoding: .utf8)
        XCTAssertEqual(pidFile, "\(getpid())\n")

        // The refused store changed nothing: the first one still works.
        _ = try await makeAccount(first)
        first.close()
        let second = try openStore()
        XCTAssertEqual(try second.listAccounts(limit: 10).accounts.count, 1)
    }
}
