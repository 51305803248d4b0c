import Foundation
import Logging
import PelletClient
import PelletProviders
import PelletRouter
import PelletServer
import PelletStore
import PelletTesting
import PelletWire
import XCTest

/// A stream's chunks go to the client as soon as the gateway has them: not behind the provider's
/// later bytes, and not behind the call's settlement (its metering commit). A real server, a real
/// provider engine and store, and a provider on a loopback socket that holds part of its answer
/// until the test lets it go: what the client received by then is what the gateway passed on
/// without waiting. No timing is asserted; every wait is bounded.
final class StreamFirstChunkTests: XCTestCase {
    private var server: TestServer!
    private var engine: ProviderEngine!
    private var provider: HeldStreamProvider!
    private var client: PelletClient!
    private var accountID = ""
    private var apiKey = ""

    override func tearDown() async throws {
        await client?.close()
        await server?.shutdown()
        engine?.shutdown()
        provider?.shutdown()
        (client, server, engine, provider) = (nil, nil, nil, nil)
    }

    /// A server whose Complete calls go to `provider` as groq (the only provider with a key).
    private func start(_ provider: HeldStreamProvider) async throws {
        self.provider = provider
        let configurations = ProviderConfiguration.fromEnvironment(
            ["GROQ_API_KEY": "test-key-groq"],
            overrides: [ProviderURLOverride(name: .groq, baseURL: provider.baseURL)])
        let directory = ProviderDirectory(configurations: configurations)
        var logger = Logger(label: "pellet.test.stream-first-chunk")
        logger.logLevel = .critical
        let engine = try ProviderEngine(logger: logger)
        self.engine = engine
        let complete = LateBoundService(streams: true)
        server = try await TestServer.start(services: [.complete: complete])
        complete.set(
            CompleteService(
                router: Router(catalogue: Catalogue.bundled),
                authenticator: Authenticator(store: server.store, adminToken: TestServer.adminToken),
                metering: server.metering,
                rateLimiter: server.rateLimiter,
                engine: engine,
                directory: directory,
                logger: logger))
        client = try await server.client()
        let account = try await server.store.createAccount(Account(name: "Stream User", email: "stream@example.com"))
        accountID = account.id
        apiKey = try await server.store.createKey(accountID: account.id, name: "stream").plaintext
    }

    private func request() -> CompleteRequest {
        CompleteRequest(
            credentials: Credentials(apiKey: apiKey),
            messages: [ChatMessage(role: "user", content: "Say hello.")],
            model: "gpt-oss-120b",
            maxTokens: 64,
            providers: ["groq"])
    }

    /// Request records committed for the account so far.
    private func meteredCalls() throws -> UInt64 {
        try server.metering.monthlyTotals(accountID: accountID).reduce(0) { $0 + $1.totals.requests }
    }

    func testTheFirstChunkReachesTheClientWhileTheProviderHoldsTheRest() async throws {
        try await start(
            HeldStreamProvider(
                first: HeldStreamProvider.roleEvent + HeldStreamProvider.contentEvent("Hello"),
                rest: HeldStreamProvider.contentEvent(" world")
                    + HeldStreamProvider.endEvents(promptTokens: 9, completionTokens: 2)))
        var deltas: [String] = []
        var restSentBeforeTheFirstChunk: Bool?
        var final: CompleteResponse?
        for try await event in client.completeStream(request()) {
            switch event {
            case .delta(let text):
                if deltas.isEmpty {
                    restSentBeforeTheFirstChunk = provider.hasSentRest
                    provider.release()
                }
                deltas.append(text)
            case .done(let response):
                final = response
            }
        }
        // Had the gateway held the first chunk back, the provider would have sent the rest (at
        // its hold limit) before the client saw anything.
        XCTAssertEqual(restSentBeforeTheFirstChunk, false, "the first chunk waited for the provider's next bytes")
        XCTAssertEqual(deltas, ["Hello", " world"])
        let response = try XCTUnwrap(final)
        XCTAssertEqual(response.usage?.promptTokens, 9)
        XCTAssertEqual(response.usage?.completionTokens, 2)
        XCTAssertEqual(response.provider, "groq")
        XCTAssertEqual(provider.requestCount, 1)
        XCTAssertEqual(try meteredCalls(), 1)
    }

    /// The whole answer in one provider read, its end included: the chunks still leave before the
    /// call's metering is committed. The store's writer is held, so the commit waits for the
    /// test; the chunks must not.
    func testChunksDoNotWaitForTheMeteringCommit() async throws {
        try await start(
            HeldStreamProvider(
                first: HeldStreamProvider.roleEvent + HeldStreamProvider.contentEvent("Hello")
                    + HeldStreamProvider.contentEvent(" world")
                    + HeldStreamProvider.endEvents(promptTokens: 9, completionTokens: 2),
                rest: ""))
        provider.release()
        let writerHeld = DispatchSemaphore(value: 0)
        let writerGate = DispatchSemaphore(value: 0)
        let store = server.store
        let holding = Task {
            try await store.write { _ in
                writerHeld.signal()
                _ = writerGate.wait(timeout: .now() + .seconds(10))
            }
        }
        XCTAssertEqual(writerHeld.wait(timeout: .now() + .seconds(10)), .success, "the writer did not take the job")

        var deltas: [String] = []
        var meteredWhenTheChunksArrived: UInt64?
        var final: CompleteResponse?
        for try await event in client.completeStream(request()) {
            switch event {
            case .delta(let text):
                deltas.append(text)
                if deltas.count == 2 {
                    meteredWhenTheChunksArrived = try meteredCalls()
                    writerGate.signal()
                }
            case .done(let response):
                final = response
            }
        }
        try await holding.value
        XCTAssertEqual(deltas, ["Hello", " world"])
        XCTAssertEqual(meteredWhenTheChunksArrived, 0, "the chunks came after the metering commit")
        XCTAssertEqual(final?.usage?.completionTokens, 2)
        XCTAssertEqual(try meteredCalls(), 1)
    }
}
