import Foundation
import PelletRouter
import PelletWire
import XCTest

final class RoutingPolicyTests: XCTestCase {
    let catalogue = Catalogue.bundled
    lazy var router = Router(catalogue: catalogue)

    /// A spread of real prompts: every task type and difficulty of the held-out split.
    func samplePrompts() throws -> [[ChatMessage]] {
        try LabeledPrompts.pellet(split: "heldout").map(\.messages)
    }

    func request(
        _ messages: [ChatMessage],
        preference: Preference = .balanced,
        model: String = "",
        maxTokens: UInt32 = 0,
        hint: String = "",
        providers: [String] = []
    ) -> RouteRequest {
        RouteRequest(
            messages: messages,
            model: model,
            preference: preference,
            maxTokens: maxTokens,
            taskHint: hint,
            providers: providers
        )
    }

    func user(_ text: String) -> [ChatMessage] { [ChatMessage(role: "user", content: text)] }

    /// Every (model, provider) a request could use, with its estimated cost in micro-USD.
    func costs(
        of messages: [ChatMessage],
        maxTokens: UInt32,
        task: TaskType,
        minimumScore: Double
    ) -> [(model: String, provider: ProviderName, cost: UInt64)] {
        let prompt = UInt64(TokenEstimator.estimate(messages))
        return catalogue.models.filter { $0.quality(for: task).score >= minimumScore }.flatMap { model in
            model.offers.map { offer in
                (model.id, offer.provider, expectedCost(prompt: prompt, maxTokens: maxTokens, model: model, offer: offer))
            }
        }
    }

    /// The router's estimate: a reasoning model's output counts `reasoningOutputMultiplier` times.
    func expectedCost(prompt: UInt64, maxTokens: UInt32, model: CatalogueModel, offer: ProviderOffer) -> UInt64 {
        let output = UInt64(maxTokens) * (model.reasoning ? UInt64(router.policy.reasoningOutputMultiplier) : 1)
        let numerator = prompt * offer.inputMicroUSDPerMillionTokens + output * offer.outputMicroUSDPerMillionTokens
        return (numerator + 999_999) / 1_000_000
    }

    func testReasoningModelsExpectTheirThinkingAsOutput() throws {
        let messages = user("hey, how are you doing today?")
        XCTAssertEqual(router.policy.reasoningOutputMultiplier, 2)
        // Same provider, same model: only the multiplier differs between the two routers.
        let plain = Router(catalogue: catalogue, policy: RoutingPolicy(reasoningOutputMultiplier: 1))
        let thinking = try router.route(request(messages, model: "gpt-oss-120b", maxTokens: 1000, providers: ["groq"]))
        let flat = try plain.route(request(messages, model: "gpt-oss-120b", maxTokens: 1000, providers: ["groq"]))
        let prompt = UInt64(TokenEstimator.estimate(messages))
        // $0.15 in, $0.60 out per million; 2,000 output tokens expected for max_tokens 1,000.
        XCTAssertEqual(thinking.estCostMicroUsd, (prompt * 150_000 + 2000 * 600_000 + 999_999) / 1_000_000)
        XCTAssertEqual(flat.estCostMicroUsd, (prompt * 150_000 + 1000 * 600_000 + 999_999) / 1_000_000)
        XCTAssertNotEqual(plain.policyVersion, router.policyVersion)
        // A model that does not think is estimated at max_tokens.
        let llama = try router.route(request(messages, model: "llama-3.3-70b", maxTokens: 1000))
        XCTAssertEqual(llama.estCostMicroUsd, (prompt * 880_000 + 1000 * 880_000 + 999_999) / 1_000_000)
    }

    func testCostNeverPicksACostlierCandidateMeetingTheSameFloor() throws {
        for messages in try samplePrompts() {
            for maxTokens: UInt32 in [64, 512, 4000] {
                let decision = try router.route(request(messages, preference: .cost, maxTokens: maxTokens))
                let task = try XCTUnwrap(TaskType(rawValue: decision.taskType))
                let floor = router.policy.floor(for: router.classify(messages: messages).difficulty)
                let cheapest = try XCTUnwrap(
                    costs(of: messages, maxTokens: maxTokens, task: task, minimumScore: floor).map(\.cost).min()
                )
                XCTAssertLessThanOrEqual(decision.estCostMicroUsd, cheapest, decision.reason)
                let chosen = try XCTUnwrap(catalogue.model(id: decision.model))
                XCTAssertGreaterThanOrEqual(chosen.quality(for: task).score, floor, decision.reason)
                XCTAssertTrue(
                    decision.reason.contains("cheapest model meeting the \(task) quality floor"),
                    decision.reason
                )
            }
        }
    }

    /// QUALITY gives a hard prompt the best model for its task, and an easy or medium one the
    /// cheapest model within the policy's tolerance of the best (changed with the difficulty
    /// score, issue 16: before it, every prompt got the best model, and easy prompts paid for
    /// quality they did not need).
    func testQualityTakesTheBestForHardPromptsAndTheCheapestNearTheBestForOthers() throws {
        var hard = 0
        var cheaperThanBest = 0
        for messages in try samplePrompts() {
            let decision = try router.route(request(messages, preference: .quality))
            let task = try XCTUnwrap(TaskType(rawValue: decision.taskType))
            let difficulty = router.classify(messages: messages).difficulty
            let best = catalogue.models.map { $0.quality(for: task).score }.max()!
            let nearBest = best - router.policy.tolerance(for: difficulty)
            let chosen = try XCTUnwrap(catalogue.model(id: decision.model)?.quality(for: task).score)
            XCTAssertGreaterThanOrEqual(chosen, nearBest, decision.reason)
            let cheapestNear = try XCTUnwrap(
                costs(of: messages, maxTokens: router.policy.defaultMaxTokens, task: task, minimumScore: nearBest)
                    .map(\.cost).min()
            )
            XCTAssertLessThanOrEqual(decision.estCostMicroUsd, cheapestNear, decision.reason)
            if difficulty == .hard {
                hard += 1
                XCTAssertEqual(chosen, best, decision.reason)
            }
            if chosen < best {
                cheaperThanBest += 1
                XCTAssertTrue(decision.reason.contains("cheapest model within"), decision.reason)
            }
        }
        XCTAssertGreaterThan(hard, 0, "no hard prompt in the sample")
        XCTAssertGreaterThan(cheaperThanBest, 0, "no easy prompt moved off the best model")
    }

    /// BALANCED and COST never go below the floor of the prompt's difficulty when a model meets
    /// it: a harder prompt needs a stronger model.
    func testBalancedMeetsTheFloorOfThePromptsDifficulty() throws {
        var floorsSeen: Set<Double> = []
        for messages in try samplePrompts() {
            let difficulty = router.classify(messages: messages).difficulty
            let floor = router.policy.floor(for: difficulty)
            floorsSeen.insert(floor)
            let decision = try router.route(request(messages, preference: .balanced))
            let task = try XCTUnwrap(TaskType(rawValue: decision.taskType))
            guard catalogue.models.contains(where: { $0.quality(for: task).score >= floor }) else { continue }
            let chosen = try XCTUnwrap(catalogue.model(id: decision.model)?.quality(for: task).score)
            XCTAssertGreaterThanOrEqual(chosen, floor, decision.reason)
            XCTAssertTrue(decision.reason.contains("\(difficulty) prompt"), decision.reason)
            XCTAssertEqual(decision.difficulty, router.classify(messages: messages).difficultyScore)
        }
        XCTAssertGreaterThan(floorsSeen.count, 1, "every sample prompt had the same difficulty")
    }

    func testLatencyUsesLiveFiguresFromHealth() throws {
        let messages = user("hey, how are you doing today?")
        let fast = try router.route(request(messages, preference: .latency, maxTokens: 256))
        XCTAssertEqual(fast.provider, "groq", fast.reason)
        // The engine reports groq as slow right now: the choice moves elsewhere.
        var health = ProviderHealthSnapshot()
        health.providers[.groq] = .init(latency: .init(timeToFirstTokenMs: 9000, outputTokensPerSecond: 5))
        let moved = try router.route(request(messages, preference: .latency, maxTokens: 256), health: health)
        XCTAssertNotEqual(moved.provider, "groq", moved.reason)
        XCTAssertTrue(moved.reason.contains("fastest model meeting"), moved.reason)
    }

    func testExcludedProvidersAreNeverChosen() throws {
        let subsets: [[String]] = [
            ["together"], ["fireworks"], ["groq"], ["together", "groq"], ["fireworks", "together"],
        ]
        for messages in try samplePrompts().prefix(20) {
            for providers in subsets {
                for preference in Preference.allCases {
                    let decision = try router.route(request(messages, preference: preference, providers: providers))
                    XCTAssertTrue(providers.contains(decision.provider), decision.reason)
                    for fallback in decision.fallbacks {
                        XCTAssertTrue(providers.contains(fallback.provider), "\(fallback)")
                    }
                }
            }
        }
    }

    func testAnOpenCircuitRemovesTheProvider() throws {
        for state in [ProviderHealthSnapshot.State.open, .disabled] {
            var health = ProviderHealthSnapshot()
            health.setState(state, for: .groq)
            for messages in try samplePrompts().prefix(20) {
                for preference in Preference.allCases {
                    let decision = try router.route(request(messages, preference: preference), health: health)
                    XCTAssertNotEqual(decision.provider, "groq", decision.reason)
                    XCTAssertFalse(decision.fallbacks.contains { $0.provider == "groq" })
                }
            }
        }
    }

    /// A pair its provider no longer lists is never chosen; the model's other providers still
    /// are, and a pair that comes back is chosen again.
    func testAnUnavailablePairIsLeftOutAndItsModelFallsBack() throws {
        let messages = user("hey, how are you doing today?")
        let first = try router.route(request(messages, preference: .cost, model: "gpt-oss-120b"))
        XCTAssertEqual(first.provider, "groq", first.reason)
        var health = ProviderHealthSnapshot()
        health.setUnavailable(model: "gpt-oss-120b", on: .groq)
        XCTAssertFalse(health.isAvailable(model: "gpt-oss-120b", on: .groq))
        XCTAssertTrue(health.isAvailable(model: "gpt-oss-20b", on: .groq))
        let moved = try router.route(request(messages, preference: .cost, model: "gpt-oss-120b"), health: health)
        XCTAssertNotEqual(moved.provider, "groq", moved.reason)
        XCTAssertEqual(moved.fallbacks.count, 1)
        XCTAssertFalse(moved.fallbacks.contains { $0.provider == "groq" })
        // Automatic choices never pick the pair either; groq's other models still serve.
        for messages in try samplePrompts().prefix(20) {
            for preference in Preference.allCases {
                let decision = try router.route(request(messages, preference: preference), health: health)
                let pairs = [(decision.model, decision.provider)] + decision.fallbacks.map { ($0.model, $0.provider) }
                XCTAssertFalse(pairs.contains { $0 == ("gpt-oss-120b", "groq") }, decision.reason)
            }
        }
        let groqOnly = try router.route(request(messages, providers: ["groq"]), health: health)
        XCTAssertNotEqual(groqOnly.model, "gpt-oss-120b")
        // The only provider of a model retires it: UNAVAILABLE says why.
        health.setUnavailable(model: "llama-3.3-70b", on: .together)
        assertError(.unavailable, "all providers of llama-3.3-70b are unavailable: together does not serve it now") {
            try router.route(request(messages, model: "llama-3.3-70b"), health: health)
        }
        // Back in the list: back in routing.
        health.providers[.groq]?.unavailableModels.remove("gpt-oss-120b")
        XCTAssertEqual(try router.route(request(messages, preference: .cost, model: "gpt-oss-120b"), health: health), first)
    }

    func testDegradedProvidersRankAfterHealthyOnes() throws {
        let messages = user("Write a haiku about the sea.")
        let healthy = try router.route(request(messages, preference: .cost))
        var health = ProviderHealthSnapshot()
        health.setState(.degraded, for: try XCTUnwrap(ProviderName(rawValue: healthy.provider)))
        let decision = try router.route(request(messages, preference: .cost), health: health)
        XCTAssertNotEqual(decision.provider, healthy.provider)
        // Degraded is still a candidate: with only that provider allowed it is chosen, and said so.
        let only = try router.route(request(messages, preference: .cost, providers: [healthy.provider]), health: health)
        XCTAssertEqual(only.provider, healthy.provider)
        XCTAssertTrue(only.reason.contains("is degraded"), only.reason)
    }

    func testAnExplicitModelIsHonoured() throws {
        let messages = user("Explain the difference between TCP and UDP.")
        for model in catalogue.models {
            for preference in Preference.allCases {
                let decision = try router.route(request(messages, preference: preference, model: model.id))
                XCTAssertEqual(decision.model, model.id)
                XCTAssertTrue(model.offers.contains { $0.provider.rawValue == decision.provider })
                XCTAssertTrue(decision.fallbacks.allSatisfy { $0.model == model.id })
                XCTAssertEqual(decision.fallbacks.count, model.offers.count - 1)
                XCTAssertTrue(decision.reason.contains("requested model \(model.id)"), decision.reason)
                if preference == .cost {
                    let cheapest = costs(of: messages, maxTokens: 512, task: .qa, minimumScore: 0).filter {
                        $0.model == model.id
                    }.map(\.cost).min()
                    XCTAssertEqual(decision.estCostMicroUsd, cheapest)
                }
            }
        }
        // "auto" and "" let the router choose.
        XCTAssertEqual(try router.route(request(messages, model: "auto")), try router.route(request(messages)))
    }

    func testFallbacksNeverRepeatThePrimaryAndPutTheSameModelFirst() throws {
        for messages in try samplePrompts() {
            for preference in Preference.allCases {
                let decision = try router.route(request(messages, preference: preference))
                let pairs = decision.fallbacks.map { "\($0.model)@\($0.provider)" }
                XCTAssertFalse(pairs.contains("\(decision.model)@\(decision.provider)"), decision.reason)
                XCTAssertEqual(Set(pairs).count, pairs.count)
                XCTAssertLessThanOrEqual(decision.fallbacks.count, 4)
                XCTAssertGreaterThan(decision.fallbacks.count, 0)
                // Same model on other providers first, then other models.
                let sameModel = decision.fallbacks.prefix { $0.model == decision.model }
                XCTAssertFalse(decision.fallbacks.dropFirst(sameModel.count).contains { $0.model == decision.model })
                let otherProviders = (catalogue.model(id: decision.model)?.offers.count ?? 1) - 1
                XCTAssertEqual(sameModel.count, min(otherProviders, 4))
            }
        }
    }

    func testDecisionsAreDeterministic() throws {
        let other = Router(catalogue: try Catalogue.loadBundled())
        for messages in try samplePrompts() {
            for preference in Preference.allCases {
                let first = try router.route(request(messages, preference: preference))
                XCTAssertEqual(first, try router.route(request(messages, preference: preference)))
                XCTAssertEqual(first, try other.route(request(messages, preference: preference)))
            }
        }
    }

    func testDecisionFields() throws {
        let messages = [
            ChatMessage(role: "system", content: "You are a senior Go engineer."),
            ChatMessage(role: "user", content: "Write a Go function that merges two sorted slices of ints."),
        ]
        let decision = try router.route(request(messages, preference: .cost, maxTokens: 300))
        XCTAssertEqual(decision.taskType, "code")
        XCTAssertGreaterThan(decision.confidence, 0.3)
        XCTAssertEqual(decision.policyVersion, router.policyVersion)
        XCTAssertTrue(decision.policyVersion.hasPrefix("p1-"))
        XCTAssertEqual(decision.policyVersion.count, 19)
        let model = try XCTUnwrap(catalogue.model(id: decision.model))
        let offer = try XCTUnwrap(model.offer(on: try XCTUnwrap(ProviderName(rawValue: decision.provider))))
        let prompt = UInt64(TokenEstimator.estimate(messages))
        XCTAssertEqual(
            decision.estCostMicroUsd, expectedCost(prompt: prompt, maxTokens: 300, model: model, offer: offer))
        XCTAssertTrue(decision.reason.hasPrefix("code task ("), decision.reason)
        XCTAssertTrue(decision.reason.contains("\(decision.model) on \(decision.provider) at $0.0"), decision.reason)
        print("example decision: \(decision.model) on \(decision.provider): \(decision.reason)")
    }

    func testTaskHintOverridesTheClassifier() throws {
        let messages = user("Write a Go function that merges two sorted slices of ints.")
        let decision = try router.route(request(messages, hint: "translation"))
        XCTAssertEqual(decision.taskType, "translation")
        XCTAssertEqual(decision.confidence, 1)
        XCTAssertTrue(decision.reason.hasPrefix("translation task (from task_hint"), decision.reason)
    }

    func testPolicyVersionFollowsCatalogueAndConstants() throws {
        XCTAssertEqual(Router(catalogue: catalogue).policyVersion, router.policyVersion)
        let stricter = Router(
            catalogue: catalogue,
            policy: RoutingPolicy(floors: [.easy: 0.6, .medium: 0.75, .hard: 0.9])
        )
        XCTAssertNotEqual(stricter.policyVersion, router.policyVersion)
    }

    // MARK: errors

    func testErrorStatuses() throws {
        let messages = user("What is the capital of Peru?")
        assertError(.invalidArgument, "messages is empty") { try router.route(request([])) }
        assertError(.invalidArgument, "every message's content is empty") {
            try router.route(
                request([ChatMessage(role: "system", content: ""), ChatMessage(role: "user", content: " \n\t")])
            )
        }
        assertError(.invalidArgument, "unknown provider \"openai\" in providers (expected fireworks, groq, together)") {
            try router.route(request(messages, providers: ["groq", "openai"]))
        }
        assertError(.invalidArgument, "invalid task_hint \"poetry\"") {
            try router.route(request(messages, hint: "poetry"))
        }
        assertError(.invalidArgument, "invalid task_hint \"Code\"") {
            try router.route(request(messages, hint: "Code"))
        }
        assertError(.notFound, "unknown model \"gpt-4o\"") { try router.route(request(messages, model: "gpt-4o")) }

        // Past the largest window in the catalogue (1,048,576 tokens).
        let huge = user(String(repeating: "word ", count: 1_000_000))
        assertError(.unavailable, "no candidate: context window too small for 10") { try router.route(request(huge)) }
        assertError(.unavailable, "no candidate: context window too small for") {
            try router.route(request(messages, maxTokens: 1_100_000))
        }

        var allOpen = ProviderHealthSnapshot()
        for provider in ProviderName.builtIn { allOpen.setState(.open, for: provider) }
        assertError(.unavailable, "no candidate: fireworks circuit open, groq circuit open, together circuit open") {
            try router.route(request(messages), health: allOpen)
        }
        var fireworksDown = ProviderHealthSnapshot()
        fireworksDown.setState(.disabled, for: .fireworks)
        assertError(
            .unavailable,
            "all providers of glm-5.3 are unavailable: fireworks disabled, together not in providers"
        ) {
            try router.route(
                request(messages, model: "glm-5.3", providers: ["fireworks", "groq"]),
                health: fireworksDown
            )
        }
        assertError(.unavailable, "no candidate for llama-3.3-70b: context window too small for") {
            try router.route(request(messages, model: "llama-3.3-70b", maxTokens: 140_000))
        }
    }

    private func assertError(
        _ status: Status,
        _ messagePrefix: String,
        file: StaticString = #filePath,
        line: UInt = #line,
        _ body: () throws -> RouteDecision
    ) {
        do {
            let decision = try body()
            XCTFail("expected \(status), got a decision: \(decision.reason)", file: file, line: line)
        } catch {
            guard let error = error as? RPCError else {
                return XCTFail("expected an RPCError, got \(error)", file: file, line: line)
            }
            XCTAssertEqual(error.status, status, error.message, file: file, line: line)
            XCTAssertTrue(
                error.message.hasPrefix(messagePrefix),
                "\"\(error.message)\" does not start with \"\(messagePrefix)\"",
                file: file,
                line: line
            )
        }
    }
}
