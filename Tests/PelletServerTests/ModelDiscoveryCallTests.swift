import Foundation
import PelletClient
import PelletMockProvider
import PelletProviders
import PelletRouter
import PelletServer
import PelletTesting
import PelletWire
import XCTest

/// A model retired at run time through the mocks' control endpoint, over real sockets: discovery
/// or one "model not found" answer moves the router off the pair, callers see no error while the
/// model has another provider, and the pair comes back when listed again.
final class ModelDiscoveryCallTests: XCTestCase {
    private var server: ProviderTestServer!
    private var client: PelletClient!
    private var apiKey = ""

    private static let model = "gpt-oss-120b"
    private let catalogue = Catalogue.bundled

    private func start(discoveryInterval: Duration? = nil) async throws {
        var behavior = MockBehavior()
        behavior.completionTokens = 4
        var models: [ProviderName: [String]] = [:]
        for name in ProviderName.builtIn { models[name] = fullList(name) }
        server = try await ProviderTestServer.start(
            behavior: behavior, models: models, discoveryInterval: discoveryInterval)
        client = try await server.client()
        let account = try await server.store.createAccount(Account(name: "Discovery", email: "discovery@example.com"))
        apiKey = try await server.store.createKey(accountID: account.id, name: "discovery").plaintext
    }

    override func tearDown() async throws {
        await client?.close()
        await server?.shutdown()
        (client, server) = (nil, nil)
    }

    /// Every provider model id the catalogue has on `provider`.
    private func fullList(_ provider: ProviderName) -> [String] {
        catalogue.models.flatMap(\.offers).filter { $0.provider.rawValue == provider.rawValue }.map(\.providerModel)
    }

    private func providerModel(on provider: ProviderName) -> String {
        catalogue.model(id: Self.model)!.offer(on: ProviderName(rawValue: provider.rawValue)!)!.providerModel
    }

    private func setList(_ provider: ProviderName, _ ids: [String]) async throws {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: ids), as: UTF8.self)
        let status = await MockControl.setModels(json, on: server.mock(provider), using: server.engine)
        XCTAssertEqual(status, 200)
    }

    private func retire(on provider: ProviderName) async throws {
        try await setList(provider, fullList(provider).filter { $0 != providerModel(on: provider) })
    }

    private var completeRequest: CompleteRequest {
        CompleteRequest(
            credentials: Credentials(apiKey: apiKey), messages: [ChatMessage(role: "user", content: "Say hello.")],
            model: Self.model, preference: .cost, maxTokens: 16)
    }

    /// The providers the router would try for the model, in order.
    private func providerOrder() async throws -> [String] {
        let request = completeRequest
        let decision = try await client.route(
            RouteRequest(credentials: request.credentials, messages: request.messages, model: request.model,
                         preference: request.preference, maxTokens: request.maxTokens)
        ).decision!
        return [decision.provider] + decision.fallbacks.map(\.provider)
    }

    private func healthState(of provider: ProviderName) async throws -> ModelAvailability? {
        try await client.health().models.first { $0.model == Self.model && $0.provider == provider.rawValue }
    }

    func testOneModelNotFoundMovesTheCallOnAndTheRouterOffThePairUntilItIsListedAgain() async throws {
        try await start()
        await server.discovery.refresh()
        let order = try await providerOrder()
        XCTAssertEqual(Set(order), ["together", "fireworks", "groq"], "the model has three providers")
        let first = ProviderName(rawValue: order[0])!
        let observed1 = try await healthState(of: first)?.state
        XCTAssertEqual(observed1, "available")

        // Retired between two discoveries: the first call finds out with a 404.
        try await retire(on: first)
        let before = UInt64(Date().timeIntervalSince1970 * 1000)
        let answer = try await client.complete(completeRequest)
        XCTAssertEqual(answer.provider, order[1], "the call fell back; the caller saw no error")
        XCTAssertEqual(answer.attempts, 2)
        XCTAssertEqual(server.mock(first).stats.snapshot.errors4xx, 1)
        XCTAssertEqual(server.directory.breaker(for: first)?.state(), .healthy, "the provider is not blamed")

        let retired = try await healthState(of: first)
        XCTAssertEqual(retired?.state, "unavailable")
        XCTAssertGreaterThanOrEqual(retired?.sinceUnixMs ?? 0, before)
        let observed2 = try await providerOrder().contains(order[0])
        XCTAssertFalse(observed2, "the router no longer chooses the pair")
        let again = try await client.complete(completeRequest)
        XCTAssertEqual(again.attempts, 1)
        XCTAssertEqual(server.mock(first).stats.snapshot.errors4xx, 1, "no second call went to the retired pair")

        // The provider's other models stay candidates.
        let other = try await client.route(
            RouteRequest(credentials: completeRequest.credentials, messages: completeRequest.messages,
                         preference: .cost, maxTokens: 16, providers: [order[0]]))
        XCTAssertEqual(other.decision?.provider, order[0])
        XCTAssertNotEqual(other.decision?.model, Self.model)

        // Listed again: back at the next discovery.
        try await setList(first, fullList(first))
        await server.discovery.refresh()
        let observed3 = try await healthState(of: first)?.state
        XCTAssertEqual(observed3, "available")
        let observed4 = try await providerOrder().first
        XCTAssertEqual(observed4, order[0])
    }

    func testDiscoveryAloneRetiresThePairWithinOneInterval() async throws {
        try await start(discoveryInterval: .milliseconds(200))
        try await waitUntil { try await self.healthState(of: .groq)?.state == "available" }
        let first = ProviderName(rawValue: try await providerOrder()[0])!

        try await retire(on: first)
        try await waitUntil { try await self.healthState(of: first)?.state == "unavailable" }
        let observed5 = try await providerOrder().contains(first.rawValue)
        XCTAssertFalse(observed5)
        let answer = try await client.complete(completeRequest)
        XCTAssertEqual(answer.attempts, 1)
        XCTAssertEqual(server.mock(first).stats.snapshot.requests, 0, "no chat call reached the retired pair")

        try await setList(first, fullList(first))
        try await waitUntil { try await self.healthState(of: first)?.state == "available" }
        let observed6 = try await providerOrder().first
        XCTAssertEqual(observed6, first.rawValue)
    }

    func testAProviderWhoseListFailsKeepsItsState() async throws {
        try await start()
        try await retire(on: .together)
        await server.discovery.refresh()
        let retired = try await healthState(of: .together)
        XCTAssertEqual(retired?.state, "unavailable")
        let observed7 = try await healthState(of: .groq)?.state
        XCTAssertEqual(observed7, "available")

        for provider in [ProviderName.together, .groq] {
            let status = await MockControl.setModels(#"{"status":503}"#, on: server.mock(provider), using: server.engine)
            XCTAssertEqual(status, 200)
        }
        await server.discovery.refresh()
        let observed8 = try await healthState(of: .together)
        XCTAssertEqual(observed8, retired, "still unavailable, since the same time")
        let observed9 = try await healthState(of: .groq)?.state
        XCTAssertEqual(observed9, "available")
        let observed10 = try await providerOrder().contains("together")
        XCTAssertFalse(observed10)
    }

    private func waitUntil(
        timeout: Duration = .seconds(5), file: StaticString = #filePath, line: UInt = #line,
        _ condition: @escaping () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else { return XCTFail("timed out", file: file, line: line) }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
