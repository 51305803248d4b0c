import Foundation
import PelletServer
import PelletStore
import PelletTesting
import PelletWire
import XCTest

/// The admin token check: only the exact token passes, whatever is appended to it.
final class AdminTokenTests: XCTestCase {
    private var server: TestServer!

    override func setUp() async throws {
        server = try await TestServer.start()
    }

    override func tearDown() async throws {
        await server?.shutdown()
        server = nil
    }

    private static let token = TestServer.adminToken

    /// An Account `list` call carrying `token` as raw bytes (NUL bytes included) over a raw
    /// connection; returns the reply's status and message.
    private func listAccounts(
        _ connection: RawConnection,
        stream: UInt32,
        token: [UInt8]
    ) throws -> (status: UInt32, message: String) {
        let credentials = ProtobufBytes.field(1, ProtobufBytes.field(2, token))
        let payload = credentials + ProtobufBytes.field(10, [])
        try connection.sendFrame(FrameHeader(type: .request, method: 4, stream: stream), payload: payload)
        let reply = try connection.readFrame()
        XCTAssertEqual(reply.header.stream, stream)
        guard reply.header.value != 0 else { return (0, "") }
        return (reply.header.value, try ErrorPayload(decoding: reply.payload).message)
    }

    func testOnlyTheExactTokenPassesThroughTheServer() throws {
        let connection = try server.rawConnection()
        let right = Array(Self.token.utf8)
        XCTAssertEqual(try listAccounts(connection, stream: 1, token: right).status, Status.ok.rawValue)

        var changed = right
        changed[changed.count / 2] ^= 0x01
        let wrong: [(String, [UInt8])] = [
            ("a prefix", Array(right.dropLast())),
            ("one byte changed", changed),
            ("empty", []),
            ("another token of the same length", Array(String(repeating: "x", count: right.count).utf8)),
        ]
        for (index, (what, token)) in wrong.enumerated() {
            let reply = try listAccounts(connection, stream: UInt32(2 + index), token: token)
            XCTAssertEqual(reply.status, Status.permissionDenied.rawValue, "\(what): \(reply.message)")
        }

        // A NUL byte never reaches the token check: the request is refused as it is decoded.
        for (index, nulCount) in [1, 256, 512].enumerated() {
            let reply = try listAccounts(
                connection,
                stream: UInt32(10 + index),
                token: right + [UInt8](repeating: 0, count: nulCount)
            )
            XCTAssertEqual(reply.status, Status.invalidArgument.rawValue, "+ \(nulCount) NUL bytes: \(reply.message)")
            XCTAssertTrue(reply.message.contains("credentials.admin_token contains a NUL byte"), reply.message)
        }
        XCTAssertEqual(try listAccounts(connection, stream: 20, token: right).status, Status.ok.rawValue)
    }

    func testTheTokenFollowedByNulBytesIsNotTheToken() throws {
        let authenticator = Authenticator(store: server.store, adminToken: Self.token)
        XCTAssertNoThrow(try authenticator.requireAdmin(Credentials(adminToken: Self.token)))
        let right = Array(Self.token.utf8)
        let candidates: [(String, String)] = [
            ("+ 256 NUL bytes", Self.token + String(repeating: "\0", count: 256)),
            ("+ 512 NUL bytes", Self.token + String(repeating: "\0", count: 512)),
            ("+ 1 NUL byte", Self.token + "\0"),
            ("a prefix", String(Self.token.dropLast())),
            ("one byte changed", String(decoding: right.enumerated().map { $0 == 3 ? $1 ^ 0x01 : $1 }, as: UTF8.self)),
            ("the token twice", Self.token + Self.token),
        ]
        for (what, token) in candidates {
            do {
                try authenticator.requireAdmin(Credentials(adminToken: token))
                XCTFail("\(what) passed as the admin token")
            } catch {
                XCTAssertEqual(error.status, .permissionDenied, "\(what): \(error.message)")
            }
        }
        do {
            try authenticator.requireAdmin(Credentials(adminToken: ""))
            XCTFail("an empty token passed")
        } catch {
            XCTAssertEqual(error.status, .permissionDenied)
        }
    }
}
