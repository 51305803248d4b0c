import Foundation
import PelletClient
import PelletMockProvider
import PelletServer
import PelletStore
import PelletTesting
import PelletWire
import XCTest

/// Metering fails closed: with the LMDB map full, no Complete call is answered OK without its
/// request record, new calls are refused before any provider is called (RESOURCE_EXHAUSTED, with
/// what the operator should do), Route and Health keep working, and Health says why Complete is
/// refused. Against a real server, a real store with a small map and the in-process mocks.
final class MeteringFailsClosedTests: XCTestCase {
    private var server: ProviderTestServer!
    private var client: PelletClient!

    override func setUp() async throws {
        var behavior = MockBehavior()
        behavior.completionTokens = 4
        server = try await ProviderTestServer.start(behavior: behavior) { $0.mapSizeBytes = 1 << 20 }
        client = try await server.client()
    }

    override func tearDown() async throws {
        await client?.close()
        await server?.shutdown()
        (client, server) = (nil, nil)
    }

    private func makeAccount(_ email: String) async throws -> (id: String, key: String) {
        let account = try await server.store.createAccount(Account(name: "Full Store", email: email))
        return (account.id, try await server.store.createKey(accountID: account.id, name: "k").plaintext)
    }

    /// Writes request records of another account until the map has no room for another batch.
    private func fillTheStore() async throws {
        let filler = try await makeAccount("filler@example.com")
        let now = server.store.configuration.now()
        var batch = 400
        var next = 0
        while batch >= 1 {
            let events = (0..<batch).map { index in
                MeteringEvent.sample("req_fill_\(next + index)", account: filler.id, at: now, key: "key_fill")
            }
            do {
                try await server.metering.record(contentsOf: events)
                next += batch
            } catch let error as StoreError where error.kind == .mapFull {
                batch /= 4
            }
        }
        XCTAssertGreaterThan(next, 100, "the filler wrote some records before the map filled")
    }

    private func providerRequests() -> Int {
        server.mocks.values.reduce(0) { $0 + $1.stats.snapshot.requests }
    }

    func testAFullStoreRefusesCompleteBeforeAnyProviderAndNeverAnswersAnUnmeteredCall() async throws {
        let caller = try await makeAccount("caller@example.com")
        try await fillTheStore()

        let request = CompleteRequest(
            credentials: Credentials(apiKey: caller.key),
            messages: [ChatMessage(role: "user", content: "Say hello.")],
            maxTokens: 16
        )
        var answeredOK: [String] = []
        var notMetered = 0
        var refused: [RPCError] = []
        // Calls until twenty in a row are refused; a probe (at most one a second) may let a call
        // through when a write fits again, and that call must then be metered like any other.
        var calls = 0
        while refused.count < 20, calls < 2_000 {
            calls += 1
            let before = providerRequests()
            do {
                answeredOK.append(try await client.complete(request).requestId)
            } catch {
                XCTAssertEqual(error.status, .resourceExhausted, error.message)
                if error.message.hasPrefix("Complete is refused") {
                    XCTAssertEqual(providerRequests(), before, "a refused call reached a provider: \(error.message)")
                    refused.append(error)
                } else {
                    XCTAssertTrue(error.message.contains("could not be metered"), error.message)
                    notMetered += 1
                }
            }
        }
        XCTAssertEqual(refused.count, 20, "calls were still served with a full store")
        let message = try XCTUnwrap(refused.first?.message)
        XCTAssertTrue(message.contains("--map-size") && message.contains("--retention-days"), message)

        // Every call answered OK has its record; the provider saw only the calls that were not
        // refused up front.
        let recorded = Set(
            try await client.allRequestRecords(accountID: caller.id, adminToken: TestServer.adminToken).records
                .map(\.requestId))
        XCTAssertTrue(recorded.isSuperset(of: answeredOK), "calls answered OK without a request record")
        XCTAssertEqual(providerRequests(), answeredOK.count + notMetered)

        // Route, Health and reads keep working, and Health says why Complete is refused.
        let route = try await client.route(RouteRequest(credentials: request.credentials, messages: request.messages))
        XCTAssertFalse(route.decision?.model.isEmpty ?? true)
        let health = try await client.health()
        XCTAssertTrue(health.completeRefused.contains("--map-size"), health.completeRefused)
        XCTAssertEqual(health.storeMapSizeBytes, 1 << 20)
        XCTAssertGreaterThan(health.storeMapUsedBytes, health.storeMapSizeBytes * 9 / 10)
        XCTAssertNotNil(try server.store.account(id: caller.id))
    }

    func testAHealthyStoreReportsItsMapAndNoRefusal() async throws {
        let health = try await client.health()
        XCTAssertEqual(health.completeRefused, "")
        XCTAssertEqual(health.storeMapSizeBytes, 1 << 20)
        XCTAssertGreaterThan(health.storeMapUsedBytes, 0)
        XCTAssertLessThan(health.storeMapUsedBytes, health.storeMapSizeBytes)
    }
}
