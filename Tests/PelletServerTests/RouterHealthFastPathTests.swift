import PelletProviders
import PelletRouter
import PelletServer
import PelletWire
import Synchronization
import XCTest

/// `ProviderDirectory.routerHealth` hands the router a shared all-healthy snapshot while every
/// breaker is settled healthy, and `healthRows` reuses the rows of breakers that did not
/// change. Both must give exactly what the full path gives, and see a change at once.
final class RouterHealthFastPathTests: XCTestCase {
    private let router = Router(catalogue: .bundled)
    private let serverError = ProviderFailure(kind: .providerError, httpStatus: 500, message: "500")

    private func directory(now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) -> ProviderDirectory {
        ProviderDirectory(
            configurations: ProviderName.builtIn.map { ProviderConfiguration(name: $0, apiKey: APIKey("key")) },
            now: now)
    }

    /// Requests of every preference, automatic and explicit, short and long.
    private var requests: [RouteRequest] {
        let prompts = [
            "What is the capital of Australia?",
            "Write a Python function that merges two sorted lists, with tests.",
            "Prove that the square root of 2 is irrational.",
            String(repeating: "Summarise this quarterly report for the board, keeping every figure. ", count: 60),
        ]
        var requests: [RouteRequest] = []
        for prompt in prompts {
            for preference in Preference.allCases {
                for model in ["", "gpt-oss-120b", "llama-3.3-70b"] {
                    for maxTokens: UInt32 in [0, 256] {
                        requests.append(
                            RouteRequest(
                                messages: [ChatMessage(role: "user", content: prompt)], model: model,
                                preference: preference, maxTokens: maxTokens))
                    }
                }
            }
        }
        return requests
    }

    private func assertSameDecisions(
        _ fast: PelletRouter.ProviderHealthSnapshot, _ full: PelletRouter.ProviderHealthSnapshot, file: StaticString = #filePath,
        line: UInt = #line
    ) {
        for request in requests {
            let a = Result { () throws(RPCError) in try router.route(request, health: fast) }
            let b = Result { () throws(RPCError) in try router.route(request, health: full) }
            XCTAssertEqual(a, b, "\(request.preference) \(request.model)", file: file, line: line)
        }
    }

    func testTheFastPathDecidesAsTheFullPath() throws {
        let directory = directory()
        XCTAssertTrue(directory.isEverySettledHealthy)
        let fast = directory.routerHealth()
        let full = directory.fullRouterHealth()
        XCTAssertEqual(Set(full.providers.keys), Set(ProviderName.builtIn), "the full path names every provider")
        for name in ProviderName.builtIn { XCTAssertEqual(fast.state(of: name), .healthy) }
        assertSameDecisions(fast, full)
        XCTAssertEqual(directory.routerHealth(openAsDegraded: true), fast)

        // Pairs that discovery found missing are left out on both paths.
        let unavailable: [ProviderName: Set<String>] = [.groq: ["gpt-oss-120b"], .together: []]
        let fastWithout = directory.routerHealth(unavailableModels: unavailable)
        XCTAssertFalse(fastWithout.isAvailable(model: "gpt-oss-120b", on: .groq))
        XCTAssertTrue(fastWithout.isAvailable(model: "gpt-oss-120b", on: .together))
        let decision = try router.route(
            RouteRequest(messages: [ChatMessage(role: "user", content: "hi")], model: "gpt-oss-120b"),
            health: fastWithout)
        XCTAssertNotEqual(decision.provider, "groq")
        assertSameDecisions(fastWithout, directory.fullRouterHealth(unavailableModels: unavailable))
    }

    func testABreakerThatOpensIsSeenAtOnce() throws {
        let directory = directory()
        let request = RouteRequest(messages: [ChatMessage(role: "user", content: "hi")], preference: .cost)
        let chosen = try XCTUnwrap(ProviderName(rawValue: try router.route(request, health: directory.routerHealth()).provider))
        let breaker = try XCTUnwrap(directory.breaker(for: chosen))
        for _ in 0..<4 { breaker.recordFailure(serverError) }
        XCTAssertFalse(directory.isEverySettledHealthy, "failures in a row degrade the provider")
        XCTAssertEqual(directory.routerHealth().state(of: chosen), .degraded)
        breaker.recordFailure(serverError)

        let health = directory.routerHealth()
        XCTAssertEqual(health.state(of: chosen), .open)
        XCTAssertEqual(health, directory.fullRouterHealth())
        XCTAssertNotEqual(try router.route(request, health: health).provider, chosen.rawValue)
        XCTAssertEqual(directory.routerHealth(openAsDegraded: true).state(of: chosen), .degraded)
        assertSameDecisions(health, directory.fullRouterHealth())

        // Successes bring the error rate under the threshold: settled healthy again.
        for _ in 0..<30 { breaker.recordSuccess(latency: .milliseconds(10)) }
        XCTAssertTrue(directory.isEverySettledHealthy)
        XCTAssertEqual(try router.route(request, health: directory.routerHealth()).provider, chosen.rawValue)
    }

    func testSettledHealthyFollowsEveryKindOfChange() {
        let clock = Mutex(ContinuousClock.now)
        let breaker = CircuitBreaker(provider: .groq, isEnabled: true, now: { clock.withLock { $0 } })
        XCTAssertTrue(breaker.isSettledHealthy)
        let first = breaker.published.generation
        breaker.recordSuccess(latency: .milliseconds(5))
        XCTAssertTrue(breaker.isSettledHealthy)
        XCTAssertGreaterThan(breaker.published.generation, first)
        breaker.recordFailure(ProviderFailure(kind: .rateLimited, retryAfter: .seconds(2), message: "429"))
        XCTAssertFalse(breaker.isSettledHealthy)
        XCTAssertTrue(breaker.published.dependsOnClock)
        XCTAssertEqual(breaker.state(), .degraded)
        breaker.recordFailure(ProviderFailure(kind: .misconfigured, httpStatus: 401, message: "401"))
        XCTAssertFalse(breaker.isSettledHealthy)
        XCTAssertEqual(breaker.state(), .misconfigured)
        XCTAssertFalse(CircuitBreaker(provider: .groq, isEnabled: false).isSettledHealthy, "disabled")

        // A rate limit that ended is forgotten by the next look at the state (the router's full
        // path), which takes the provider back to the fast path.
        let limited = CircuitBreaker(provider: .together, isEnabled: true, now: { clock.withLock { $0 } })
        for _ in 0..<9 { limited.recordSuccess(latency: .milliseconds(5)) }
        limited.recordFailure(ProviderFailure(kind: .rateLimited, retryAfter: .seconds(2), message: "429"))
        XCTAssertEqual(limited.state(), .degraded)
        clock.withLock { $0 += .seconds(3) }
        XCTAssertFalse(limited.isSettledHealthy, "nothing has looked since the limit ended")
        XCTAssertEqual(limited.state(), .healthy)
        XCTAssertTrue(limited.isSettledHealthy)
        XCTAssertFalse(limited.published.dependsOnClock)
    }

    func testHealthRowsFollowEveryChangeAndTheClock() throws {
        let clock = Mutex(ContinuousClock.now)
        let directory = directory(now: { clock.withLock { $0 } })
        func assertRowsAreCurrent(_ message: String, line: UInt = #line) {
            XCTAssertEqual(directory.healthRows(), directory.health().map(\.wire), message, line: line)
        }
        assertRowsAreCurrent("at start")
        assertRowsAreCurrent("asked again, unchanged")
        let groq = try XCTUnwrap(directory.breaker(for: .groq))
        groq.recordSuccess(latency: .milliseconds(42))
        XCTAssertEqual(directory.healthRows().first { $0.name == "groq" }?.latencyP50Ms, 42)
        assertRowsAreCurrent("after a success")
        for _ in 0..<5 { groq.recordFailure(serverError) }
        XCTAssertEqual(directory.healthRows().first { $0.name == "groq" }?.state, "open")
        assertRowsAreCurrent("after the circuit opened")

        let together = try XCTUnwrap(directory.breaker(for: .together))
        for _ in 0..<9 { together.recordSuccess(latency: .milliseconds(7)) }
        together.recordFailure(ProviderFailure(kind: .rateLimited, retryAfter: .seconds(2), message: "429"))
        XCTAssertEqual(directory.healthRows().first { $0.name == "together" }?.state, "degraded")
        assertRowsAreCurrent("while rate limited")
        // The rate limit ends with the clock alone, no change to the breaker: the row follows.
        clock.withLock { $0 += .seconds(3) }
        XCTAssertEqual(directory.healthRows().first { $0.name == "together" }?.state, "healthy", "1 of 10 failed")
        assertRowsAreCurrent("after the rate limit ended")
    }
}
