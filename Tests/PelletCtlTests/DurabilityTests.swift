import Foundation
import PelletClient
import PelletTesting
import PelletWire
import XCTest

/// Acknowledged writes survive `kill -9` of a real pelletd (in the default durability, which
/// commits before answering and syncs on a short interval, and in `full`), and the restarted
/// server takes over the dead one's stale socket.
final class DurabilityTests: XCTestCase {
    private let adminToken = "durability-admin-token-0123456789"

    func testAcknowledgedAccountsAndKeysSurviveKill9() async throws {
        try await checkAcknowledgedAccountsAndKeysSurviveKill9(durabilityArguments: ["--durability", "full"])
    }

    func testAcknowledgedAccountsAndKeysSurviveKill9InTheDefaultDurability() async throws {
        try await checkAcknowledgedAccountsAndKeysSurviveKill9(durabilityArguments: [])
    }

    private func checkAcknowledgedAccountsAndKeysSurviveKill9(durabilityArguments: [String]) async throws {
        let directory = try TemporaryDirectory(prefix: "pelletd-kill")
        let environment = ["PELLET_ADMIN_TOKEN": adminToken]
        let first = try PelletdProcess.start(dataDirectory: directory.path, arguments: durabilityArguments, environment: environment)
        let client = try await PelletClient.connect(to: .unix(path: try XCTUnwrap(first.unixPath)))
        let admin = Credentials(adminToken: adminToken)

        // Concurrent creates, so that they share group commits; each one counts as
        // acknowledged only when its reply arrived.
        let acknowledged = try await withThrowingTaskGroup(of: (Account, String).self) { group in
            for index in 0..<100 {
                group.addTask {
                    let account = try await client.account(
                        AccountRequest(credentials: admin, op: .create(Account(name: "Crash \(index)", email: "crash\(index)@example.com")))
                    ).account!
                    let key = try await client.account(
                        AccountRequest(credentials: admin, op: .createKey(CreateKey(accountId: account.id, name: "k")))
                    ).apiKey
                    return (account, key)
                }
            }
            return try await group.reduce(into: [(Account, String)]()) { $0.append($1) }
        }
        XCTAssertEqual(acknowledged.count, 100)

        first.subprocess.signal(SIGKILL)
        _ = try first.subprocess.waitForExit()
        await client.close()

        let second = try PelletdProcess.start(dataDirectory: directory.path, environment: environment)
        let again = try await PelletClient.connect(to: .unix(path: try XCTUnwrap(second.unixPath)))
        for (account, key) in acknowledged {
            let stored = try await again.account(AccountRequest(credentials: admin, op: .get(account.id))).account
            XCTAssertEqual(stored, account)
            let mine = try await again.account(AccountRequest(credentials: Credentials(apiKey: key), op: .get(""))).account
            XCTAssertEqual(mine?.id, account.id)
        }
        await again.close()
        try second.stop()
    }
}
