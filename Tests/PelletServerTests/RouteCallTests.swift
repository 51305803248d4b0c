import NIOCore
import PelletClient
import PelletRouter
import PelletTesting
import PelletWire
import XCTest

/// The Route call (method 1) over a real socket: authentication, the decision, every error.
final class RouteCallTests: XCTestCase {
    private var server: TestServer!
    private var client: PelletClient!
    private var apiKey = ""

    override func setUp() async throws {
        server = try await TestServer.start()
        client = try await server.client()
        let account = try await server.store.createAccount(Account(name: "Router User", email: "route@example.com"))
        apiKey = try await server.store.createKey(accountID: account.id, name: "route").plaintext
    }

    override func tearDown() async throws {
        await client?.close()
        await server?.shutdown()
        (client, server) = (nil, nil)
    }

    private func request(
        _ prompt: String = "Write a Swift function that reverses a linked list.",
        model: String = "",
        preference: Preference = .balanced,
        maxTokens: UInt32 = 256,
        taskHint: String = "",
        providers: [String] = [],
        key: String? = nil
    ) -> RouteRequest {
        RouteRequest(
            credentials: Credentials(apiKey: key ?? apiKey),
            messages: [ChatMessage(role: "user", content: prompt)],
            model: model,
            preference: preference,
            maxTokens: maxTokens,
            taskHint: taskHint,
            providers: providers
        )
    }

    private func route(_ request: RouteRequest) async throws(RPCError) -> RouteDecision {
        let response = try await client.route(request)
        guard let decision = response.decision else { throw RPCError(.internal, "no decision in the response") }
        return decision
    }

    private func expectStatus(_ status: Status, _ request: RouteRequest, mentioning text: String, file: StaticString = #filePath, line: UInt = #line) async {
        do {
            _ = try await client.route(request)
            XCTFail("expected \(status.name)", file: file, line: line)
        } catch {
            XCTAssertEqual(error.status, status, error.message, file: file, line: line)
            XCTAssertTrue(error.message.contains(text), "message: \(error.message)", file: file, line: line)
        }
    }

    func testADecisionExplainsItselfAndHasFallbacks() async throws {
        let decision = try await route(request())
        XCTAssertEqual(decision.taskType, "code")
        XCTAssertGreaterThan(decision.confidence, 0)
        XCTAssertNotNil(Catalogue.bundled.model(id: decision.model), decision.model)
        XCTAssertTrue(ProviderName.builtIn.map(\.rawValue).contains(decision.provider), decision.provider)
        XCTAssertGreaterThan(decision.estCostMicroUsd, 0)
        XCTAssertFalse(decision.reason.isEmpty)
        XCTAssertFalse(decision.policyVersion.isEmpty)
        XCTAssertFalse(decision.fallbacks.isEmpty)
        XCTAssertFalse(
            decision.fallbacks.contains { $0.model == decision.model && $0.provider == decision.provider },
            "fallbacks never repeat the primary"
        )
        // The same request gives the same decision.
        let again = try await route(request())
        XCTAssertEqual(again, decision)
    }

    func testPreferencesExplicitModelsHintsAndProviderFilters() async throws {
        let cheapest = try await route(request(preference: .cost))
        let best = try await route(request(preference: .quality))
        XCTAssertLessThanOrEqual(cheapest.estCostMicroUsd, best.estCostMicroUsd)

        let model = Catalogue.bundled.models[0]
        let explicit = try await route(request(model: model.id))
        XCTAssertEqual(explicit.model, model.id)

        let hinted = try await route(request("Tell me about the sea.", taskHint: "translation"))
        XCTAssertEqual(hinted.taskType, "translation")
        XCTAssertEqual(hinted.confidence, 1)

        let onlyGroq = try await route(request(providers: ["groq"]))
        XCTAssertEqual(onlyGroq.provider, "groq")
        XCTAssertTrue(onlyGroq.fallbacks.allSatisfy { $0.provider == "groq" })
    }

    func testEveryErrorStatus() async throws {
        await expectStatus(.unauthenticated, request(key: ""), mentioning: "API key")
        await expectStatus(.unauthenticated, request(key: "plt_nope"), mentioning: "invalid API key")
        var noMessages = request()
        noMessages.messages = []
        await expectStatus(.invalidArgument, noMessages, mentioning: "messages")
        await expectStatus(.invalidArgument, request("   "), mentioning: "empty")
        await expectStatus(.notFound, request(model: "gpt-17-ultra"), mentioning: "gpt-17-ultra")
        await expectStatus(.invalidArgument, request(providers: ["openai"]), mentioning: "openai")
        await expectStatus(.invalidArgument, request(taskHint: "poetry"), mentioning: "poetry")
        await expectStatus(.unavailable, request(maxTokens: 50_000_000), mentioning: "context")

        do {
            _ = try await client.callRaw(method: Method.route.rawValue, payload: ByteBuffer(bytes: [0x12, 0x05, 0x01]))
            XCTFail("expected INVALID_ARGUMENT")
        } catch {
            XCTAssertEqual(error.status, .invalidArgument)
            XCTAssertTrue(error.message.contains("RouteRequest"), error.message)
        }
    }
}
