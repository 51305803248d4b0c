import Logging
import PelletProviders
import PelletRouter
import PelletServer
import PelletWire
import Synchronization
import XCTest

/// The discovery state with injected lists and times: no sockets, no clock.
final class ModelDiscoveryStateTests: XCTestCase {
    private let catalogue = Catalogue.bundled
    private let gptOnTogether = ModelDiscoveryState.Pair(model: "gpt-oss-120b", provider: .together)
    private let gptOnGroq = ModelDiscoveryState.Pair(model: "gpt-oss-120b", provider: .groq)

    /// Every provider model id the catalogue has on `provider`.
    private func listed(on provider: PelletRouter.ProviderName, except: Set<String> = []) -> Set<String> {
        Set(catalogue.models.flatMap(\.offers).filter { $0.provider == provider }.map(\.providerModel))
            .subtracting(except)
    }

    func testEveryPairStartsUnknownAndAListDecidesItsProviderOnly() {
        var state = ModelDiscoveryState(catalogue: catalogue)
        XCTAssertEqual(state.rows.count, catalogue.models.reduce(0) { $0 + $1.offers.count })
        XCTAssertTrue(state.rows.allSatisfy { $0.state == "unknown" && $0.sinceUnixMs == 0 })

        let changes = state.applyList(listed(on: .together, except: ["openai/gpt-oss-120b"]), from: .together, nowUnixMs: 1_000)
        XCTAssertEqual(state.state(of: gptOnTogether), .unavailable)
        XCTAssertEqual(state.state(of: gptOnGroq), .unknown, "another provider's pair is untouched")
        XCTAssertEqual(state.unavailableModels, [.together: ["gpt-oss-120b"]])
        XCTAssertEqual(changes.filter { $0.to == .unavailable }.map(\.pair), [gptOnTogether])
        XCTAssertTrue(changes.filter { $0.pair != gptOnTogether }.allSatisfy { $0.from == .unknown && $0.to == .available })
        let row = state.rows.first { $0.model == "gpt-oss-120b" && $0.provider == "together" }
        XCTAssertEqual(row?.state, "unavailable")
        XCTAssertEqual(row?.sinceUnixMs, 1_000)
    }

    func testAPairThatReappearsComesBackAndAnUnchangedListChangesNothing() {
        var state = ModelDiscoveryState(catalogue: catalogue)
        let all = listed(on: .together)
        _ = state.applyList(all.subtracting(["openai/gpt-oss-120b"]), from: .together, nowUnixMs: 1_000)
        XCTAssertEqual(state.applyList(all.subtracting(["openai/gpt-oss-120b"]), from: .together, nowUnixMs: 2_000), [])
        XCTAssertEqual(state.entries[gptOnTogether]?.sinceUnixMs, 1_000, "the time the pair left, not the last check")

        let back = state.applyList(all, from: .together, nowUnixMs: 3_000)
        XCTAssertEqual(back.map(\.pair), [gptOnTogether])
        XCTAssertEqual(back.first?.from, .unavailable)
        XCTAssertEqual(state.state(of: gptOnTogether), .available)
        XCTAssertEqual(state.entries[gptOnTogether]?.sinceUnixMs, 3_000)
        XCTAssertEqual(state.unavailableModels, [:])
    }

    func testModelNotFoundMarksThePairOnceUntilTheNextList() {
        var state = ModelDiscoveryState(catalogue: catalogue)
        _ = state.applyList(listed(on: .groq), from: .groq, nowUnixMs: 1_000)
        let change = state.markUnavailable(gptOnGroq, reason: "404", nowUnixMs: 1_500)
        XCTAssertEqual(change?.from, .available)
        XCTAssertEqual(change?.to, .unavailable)
        XCTAssertNil(state.markUnavailable(gptOnGroq, reason: "404", nowUnixMs: 1_600), "logged once per change")
        XCTAssertNil(state.markUnavailable(.init(model: "no-such-model", provider: .groq), reason: "404", nowUnixMs: 1))
        // Rechecked at the next discovery: listed again, so available again.
        _ = state.applyList(listed(on: .groq), from: .groq, nowUnixMs: 2_000)
        XCTAssertEqual(state.state(of: gptOnGroq), .available)
    }

    func testAListThatCannotBeReadKeepsTheLastKnownState() async {
        let lists = Mutex<[PelletProviders.ProviderName: Result<Set<String>, ModelListError>]>([:])
        let clock = Mutex<UInt64>(1_000)
        let directory = ProviderDirectory(
            configurations: PelletProviders.ProviderName.allCases.map {
                ProviderConfiguration(name: $0, apiKey: $0 == .fireworks ? nil : APIKey("key"))
            })
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let discovery = ModelDiscovery(
            catalogue: catalogue, directory: directory, wallClockMs: { clock.withLock { $0 } }, logger: logger
        ) { provider in
            lists.withLock { $0[provider.name] } ?? .failure(ModelListError(message: "no list"))
        }
        lists.withLock {
            $0[.together] = .success(listed(on: .together, except: ["openai/gpt-oss-120b"]))
            $0[.groq] = .success(listed(on: .groq))
        }
        await discovery.refresh()
        XCTAssertEqual(discovery.unavailableModels(), [.together: ["gpt-oss-120b"]])
        XCTAssertEqual(discovery.state.state(of: gptOnGroq), .available)
        XCTAssertEqual(
            discovery.state.state(of: .init(model: "gpt-oss-120b", provider: .fireworks)), .unknown,
            "a provider without a key is never asked")

        clock.withLock { $0 = 5_000 }
        lists.withLock {
            $0[.together] = .failure(ModelListError(message: "HTTP 503"))
            $0[.groq] = .failure(ModelListError(message: "HTTP 503"))
        }
        await discovery.refresh()
        XCTAssertEqual(discovery.unavailableModels(), [.together: ["gpt-oss-120b"]])
        XCTAssertEqual(discovery.state.state(of: gptOnGroq), .available)
        XCTAssertEqual(discovery.state.entries[gptOnTogether]?.sinceUnixMs, 1_000)

        // The router's input: the pair is skipped, the model's other providers are not.
        let health = directory.routerHealth(unavailableModels: discovery.unavailableModels())
        XCTAssertFalse(health.isAvailable(model: "gpt-oss-120b", on: .together))
        XCTAssertTrue(health.isAvailable(model: "gpt-oss-120b", on: .groq))
    }

    func testTheProvidersModelNotFoundAnswersAreAPairFailure() {
        let bodies: [(Int, String)] = [
            (404, #"{"error":{"message":"Model not found","code":"NOT_FOUND","type":"error"}}"#),
            (404, "no body"),
            (400, #"{"error":{"message":"decommissioned","type":"invalid_request_error","code":"model_decommissioned"}}"#),
            (400, #"{"id":"x","error":{"message":"non-serverless","code":"model_not_available"}}"#),
        ]
        for (status, body) in bodies {
            let failure = ProviderFailure.classify(status: status, headers: [], body: Array(body.utf8))
            XCTAssertEqual(failure.kind, .modelUnavailable, body)
            XCTAssertFalse(failure.countsAsProviderFailure)
        }
        let plain = ProviderFailure.classify(status: 400, headers: [], body: Array(#"{"error":{"code":"x"}}"#.utf8))
        XCTAssertEqual(plain.kind, .badRequest)
    }

    func testListBodiesInBothShapes() throws {
        XCTAssertEqual(
            try ModelList.ids(in: Array(#"{"object":"list","data":[{"id":"a","object":"model"},{"id":"b"}]}"#.utf8)),
            ["a", "b"])
        XCTAssertEqual(try ModelList.ids(in: Array(#"[{"id":"a","pricing":{"input":0.1}},{"type":"chat"}]"#.utf8)), ["a"])
        XCTAssertEqual(try ModelList.ids(in: Array(#"{"data":[]}"#.utf8)), [])
        for bad in [#"{"object":"list"}"#, "null", "<html>", #""text""#] {
            XCTAssertThrowsError(try ModelList.ids(in: Array(bad.utf8)), bad)
        }
    }
}
