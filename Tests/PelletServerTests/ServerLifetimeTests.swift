import Foundation
import PelletClient
import PelletMockProvider
import PelletServer
import PelletStore
import PelletTesting
import PelletWire
import XCTest

/// A server that was shut down and let go is freed with everything it holds: nothing it built
/// (a listener's child initializer, a connection's close callback, a service, the writer thread)
/// keeps it alive. A cycle here would keep one server's whole graph per start, which
/// LeakSanitizer reports at exit.
final class ServerLifetimeTests: XCTestCase {
    /// Waits up to two seconds for `isReleased`: the listeners' pipelines are torn down on their
    /// event loops just after `shutdown` returns.
    private func waitUntilReleased(_ isReleased: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(2)
        while !isReleased() && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        return isReleased()
    }

    func testAStoppedTestServerIsFreedWithItsStore() async throws {
        weak var testServer: TestServer?
        weak var server: PelletServer?
        weak var store: Store?
        weak var metering: Metering?
        do {
            let started = try await TestServer.start()
            (testServer, server, store, metering) = (started, started.server, started.store, started.metering)
            for address in started.addresses {
                let client = try await started.client(address)
                _ = try await client.health()
                _ = try await client.account(AccountRequest(credentials: started.adminCredentials, op: .list(ListAccounts())))
                await client.close()
            }
            await started.shutdown()
        }
        let released = try await waitUntilReleased {
            testServer == nil && server == nil && store == nil && metering == nil
        }
        XCTAssertTrue(released, "still in memory: server \(server != nil), store \(store != nil), metering \(metering != nil)")
    }

    func testAStoppedProviderTestServerIsFreedAfterACompleteCall() async throws {
        weak var providerServer: ProviderTestServer?
        weak var server: PelletServer?
        weak var store: Store?
        do {
            var behavior = MockBehavior()
            behavior.completionTokens = 4
            let started = try await ProviderTestServer.start(behavior: behavior)
            (providerServer, server, store) = (started, started.server.server, started.store)
            let account = try await started.store.createAccount(Account(name: "Lifetime", email: "life@example.com"))
            let key = try await started.store.createKey(accountID: account.id, name: "life").plaintext
            let client = try await started.client()
            let reply = try await client.complete(
                CompleteRequest(
                    credentials: Credentials(apiKey: key),
                    messages: [ChatMessage(role: "user", content: "Say hello to the gateway.")],
                    model: "gpt-oss-120b",
                    maxTokens: 16
                ))
            XCTAssertFalse(reply.content.isEmpty)
            await client.close()
            await started.shutdown()
        }
        let released = try await waitUntilReleased { providerServer == nil && server == nil && store == nil }
        XCTAssertTrue(released, "still in memory: server \(server != nil), store \(store != nil)")
    }
}
