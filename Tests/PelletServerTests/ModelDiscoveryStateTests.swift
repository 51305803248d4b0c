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
    private func listed(on provider: ProviderName, except: Set<String> = []) -> Set<String> {
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
        let lists = Mutex<[ProviderName: Result<Set<String>, ModelListError>]>([:])
        let clock = Mutex<UInt64>(1_000)
        let directory = ProviderDirectory(
            configurations: ProviderName.builtIn.map {
                ProviderConfiguration(name: $0, apiKey: $0 == .fireworks ? nil : APIKey("key"))
            })
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let discovery = ModelDiscovery(
            catalogue: catalogue, directory: directory, wallClockMs: { clock.withLock { $0 } }, logger: logger
        ) { provider in
            (lists.withLock { $0[provider.name] } ?? .failure(ModelListError(message: "no list"))).map {
                ListedModels(ids: $0)
            }
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

    /// Together's list shape with prices (USD per million tokens), read to micro-USD per million.
    func testListedPricesAreReadFromTogethersShape() throws {
        let body = #"[{"id":"openai/gpt-oss-120b","type":"chat","pricing":{"hourly":0,"input":0.15,"output":0.6,"base":0,"finetune":0}},{"id":"free","pricing":{"input":0,"output":0}},{"id":"odd","pricing":{"input":"x"}},{"id":"plain"}]"#
        let listed = try ModelList.read(Array(body.utf8))
        XCTAssertEqual(listed.ids, ["openai/gpt-oss-120b", "free", "odd", "plain"])
        XCTAssertEqual(
            listed.prices,
            [
                "openai/gpt-oss-120b": ListedPrice(inputMicroUSDPerMillionTokens: 150_000, outputMicroUSDPerMillionTokens: 600_000),
                "free": ListedPrice(inputMicroUSDPerMillionTokens: 0, outputMicroUSDPerMillionTokens: 0),
            ])
    }

    /// A listed price is compared, never billed: a difference is reported once per change.
    func testAListedPriceIsComparedWithTheCatalogueOncePerChange() throws {
        var state = ModelDiscoveryState(catalogue: catalogue)
        let offer = try XCTUnwrap(catalogue.model(id: "gpt-oss-120b")?.offer(on: .together))
        let same = ListedPrice(
            inputMicroUSDPerMillionTokens: offer.inputMicroUSDPerMillionTokens,
            outputMicroUSDPerMillionTokens: offer.outputMicroUSDPerMillionTokens)
        XCTAssertEqual(state.applyPrices([offer.providerModel: same], from: .together), [], "agreeing is not news")
        var dearer = same
        dearer.outputMicroUSDPerMillionTokens = offer.outputMicroUSDPerMillionTokens + 150_000
        let changes = state.applyPrices([offer.providerModel: dearer], from: .together)
        XCTAssertEqual(changes.map(\.pair), [gptOnTogether])
        XCTAssertEqual(changes.first?.differs, true)
        XCTAssertEqual(changes.first?.catalogueOutput, offer.outputMicroUSDPerMillionTokens)
        XCTAssertEqual(state.applyPrices([offer.providerModel: dearer], from: .together), [], "logged once")
        let row = try XCTUnwrap(state.rows.first { $0.model == "gpt-oss-120b" && $0.provider == "together" })
        XCTAssertTrue(row.priceDiffers)
        XCTAssertEqual(row.listedOutputMicroUsdPerMtok, dearer.outputMicroUSDPerMillionTokens)
        XCTAssertEqual(row.catalogueOutputMicroUsdPerMtok, offer.outputMicroUSDPerMillionTokens)
        XCTAssertEqual(state.applyPrices([offer.providerModel: same], from: .together).map(\.differs), [false])
        XCTAssertFalse(try XCTUnwrap(state.rows.first { $0.model == "gpt-oss-120b" && $0.provider == "together" }).priceDiffers)
    }

    /// After a catalogue reload, a pair both catalogues share keeps its state; new ones are unknown.
    func testAReloadedCatalogueKeepsWhatIsKnownOfSharedPairs() throws {
        var state = ModelDiscoveryState(catalogue: catalogue)
        _ = state.applyList(listed(on: .together, except: ["openai/gpt-oss-120b"]), from: .together, nowUnixMs: 1_000)
        let reloaded = state.reloaded(with: catalogue)
        XCTAssertEqual(reloaded.state(of: gptOnTogether), .unavailable)
        XCTAssertEqual(reloaded.entries[gptOnTogether]?.sinceUnixMs, 1_000)
        XCTAssertEqual(reloaded.state(of: gptOnGroq), .unknown)
        XCTAssertEqual(reloaded.unavailableModels, [.together: ["gpt-oss-120b"]])
    }
}
