import Foundation
import PelletServer
import PelletTesting
import XCTest

final class UnixSocketTests: XCTestCase {
    func testSocketModeIs0660() async throws {
        let server = try await TestServer.start()
        var info = stat()
        XCTAssertEqual(stat(server.socketPath, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o660)
        await server.shutdown()
    }

    func testAStaleSocketFileIsReplaced() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("stale.sock")
        // A socket file with nobody listening: what a killed server leaves behind.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(bound, 0)
        close(fd)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))

        let server = PelletServer(configuration: .init(listen: [.unixDomainSocket(path: path)]), logger: .init(label: "test"))
        try await server.start()
        let connection = try RawConnection(.unix(path: path))
        try connection.sendPreface()
        XCTAssertEqual(try connection.readPreface(), [0x50, 0x4C, 0x54, 0x01])
        await server.shutdown()
    }

    func testALiveServerOnThePathIsNotDisturbed() async throws {
        let first = try await TestServer.start()
        let second = PelletServer(configuration: .init(listen: [.unixDomainSocket(path: first.socketPath)]), logger: .init(label: "test"))
        do {
            try await second.start()
            XCTFail("a second server must not take a live socket")
        } catch {
            XCTAssertTrue("\(error)".contains("already listening"), "\(error)")
        }
        // The first server still answers.
        let client = try await first.client()
        _ = try await client.health()
        await client.close()
        await first.shutdown()
    }

    func testAPathThatIsNotASocketIsRefused() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("file")
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data("x".utf8)))
        let server = PelletServer(configuration: .init(listen: [.unixDomainSocket(path: path)]), logger: .init(label: "test"))
        do {
            try await server.start()
            XCTFail("a regular file must not be replaced")
        } catch {
            XCTAssertTrue("\(error)".contains("not a socket"), "\(error)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))
    }
}
