import PelletProviders
import PelletWire
import XCTest

final class CircuitBreakerTests: XCTestCase {
    let start = ContinuousClock.now
    let serverError = ProviderFailure(kind: .providerError, httpStatus: 500, message: "500")

    func at(_ seconds: Double) -> ContinuousClock.Instant {
        start + .milliseconds(Int64(seconds * 1000))
    }

    func testOpensAfterFiveConsecutiveFailures() {
        var breaker = CircuitBreakerStateMachine()
        for index in 0..<4 {
            XCTAssertEqual(breaker.admit(now: at(0)), .allowed)
            breaker.recordFailure(serverError, now: at(0))
            XCTAssertEqual(breaker.state(now: at(0)), .degraded, "failure \(index + 1)")
        }
        breaker.recordFailure(serverError, now: at(0))
        XCTAssertEqual(breaker.state(now: at(0)), .open)
        XCTAssertEqual(breaker.admit(now: at(0.5)), .rejected(until: at(1)))
    }

    func testASuccessResetsTheCount() {
        var breaker = CircuitBreakerStateMachine()
        for _ in 0..<4 { breaker.recordFailure(serverError, now: at(0)) }
        breaker.recordSuccess(latency: .milliseconds(10), now: at(0))
        XCTAssertEqual(breaker.consecutiveFailures, 0)
        for _ in 0..<4 { breaker.recordFailure(serverError, now: at(0)) }
        XCTAssertNotEqual(breaker.state(now: at(0)), .open)
    }

    func testHalfOpenLetsOneProbeThroughAndItsSuccessCloses() {
        var breaker = opened(at: 0)
        XCTAssertEqual(breaker.admit(now: at(0.999)), .rejected(until: at(1)))
        XCTAssertEqual(breaker.admit(now: at(1)), .probe)
        XCTAssertFalse(breaker.admit(now: at(1.1)).isAllowed, "one probe at a time")
        XCTAssertEqual(breaker.state(now: at(1.1)), .open)
        breaker.recordSuccess(latency: .milliseconds(20), now: at(1.2))
        XCTAssertEqual(breaker.admit(now: at(1.2)), .allowed)
        XCTAssertEqual(breaker.state(now: at(1.2)), .degraded, "closed, but 5 of the 6 recent calls failed")
    }

    func testTheCooldownDoublesOnEachFailedProbeUpToTheCap() {
        var breaker = opened(at: 0)
        var now = 0.0
        var expected = 1.0
        for _ in 0..<10 {
            now += expected
            XCTAssertEqual(breaker.admit(now: at(now - 0.001)), .rejected(until: at(now)))
            XCTAssertEqual(breaker.admit(now: at(now)), .probe)
            breaker.recordFailure(serverError, now: at(now))
            expected = min(expected * 2, 60)
        }
        XCTAssertEqual(breaker.admit(now: at(now + 59.9)), .rejected(until: at(now + 60)))
        // A success resets the cooldown to the start.
        XCTAssertEqual(breaker.admit(now: at(now + 60)), .probe)
        breaker.recordSuccess(latency: .milliseconds(5), now: at(now + 60))
        for _ in 0..<5 { breaker.recordFailure(serverError, now: at(now + 61)) }
        XCTAssertEqual(breaker.admit(now: at(now + 61.5)), .rejected(until: at(now + 62)))
    }

    func testALostProbeIsReplacedAfterTheProbeTimeout() {
        var breaker = opened(at: 0, configuration: CircuitBreakerConfiguration(probeTimeout: .seconds(5)))
        XCTAssertEqual(breaker.admit(now: at(1)), .probe)
        XCTAssertFalse(breaker.admit(now: at(5.9)).isAllowed)
        XCTAssertEqual(breaker.admit(now: at(6)), .probe)
    }

    func testANeutralOutcomeFreesTheProbeSlot() {
        var breaker = opened(at: 0)
        XCTAssertEqual(breaker.admit(now: at(1)), .probe)
        breaker.recordFailure(ProviderFailure(kind: .cancelled, message: "x"), now: at(1.1))
        XCTAssertEqual(breaker.admit(now: at(1.2)), .probe)
        breaker.recordFailure(ProviderFailure(kind: .badRequest, message: "x"), now: at(1.3))
        XCTAssertEqual(breaker.admit(now: at(1.4)), .probe)
        XCTAssertEqual(breaker.state(now: at(1.4)), .open)
    }

    func testCallerFaultsDoNotCount() {
        var breaker = CircuitBreakerStateMachine()
        for _ in 0..<20 {
            breaker.recordFailure(ProviderFailure(kind: .badRequest, message: "x"), now: at(0))
            breaker.recordFailure(ProviderFailure(kind: .cancelled, message: "x"), now: at(0))
        }
        XCTAssertEqual(breaker.state(now: at(0)), .healthy)
        XCTAssertEqual(breaker.errorRate, 0)
    }

    func testRateLimitingKeepsTheProviderOutUntilRetryAfter() {
        var breaker = CircuitBreakerStateMachine()
        breaker.recordFailure(ProviderFailure(kind: .rateLimited, retryAfter: .seconds(3), message: "429"), now: at(0))
        XCTAssertEqual(breaker.state(now: at(1)), .degraded)
        XCTAssertEqual(breaker.admit(now: at(2.9)), .rejected(until: at(3)))
        XCTAssertEqual(breaker.admit(now: at(3)), .allowed)
        XCTAssertEqual(breaker.consecutiveFailures, 0, "a 429 is not a failure of the circuit")
        // Without Retry-After: the default; a huge one is capped.
        breaker.recordFailure(ProviderFailure(kind: .rateLimited, message: "429"), now: at(10))
        XCTAssertEqual(breaker.admit(now: at(10.5)), .rejected(until: at(11)))
        breaker.recordFailure(
            ProviderFailure(kind: .rateLimited, retryAfter: .seconds(86_400), message: "429"), now: at(20))
        XCTAssertEqual(breaker.admit(now: at(21)), .rejected(until: at(80)))
    }

    func testMisconfiguredIsStickyWithARareRecheck() {
        let configuration = CircuitBreakerConfiguration(misconfiguredRecheckInterval: .seconds(300))
        var breaker = CircuitBreakerStateMachine(configuration: configuration)
        breaker.recordFailure(ProviderFailure(kind: .misconfigured, httpStatus: 401, message: "401"), now: at(0))
        XCTAssertEqual(breaker.state(now: at(0)), .misconfigured)
        XCTAssertEqual(breaker.admit(now: at(299)), .rejected(until: at(300)))
        XCTAssertEqual(breaker.admit(now: at(300)), .probe)
        XCTAssertFalse(breaker.admit(now: at(301)).isAllowed)
        breaker.recordFailure(ProviderFailure(kind: .misconfigured, httpStatus: 403, message: "403"), now: at(302))
        XCTAssertEqual(breaker.admit(now: at(500)), .rejected(until: at(602)))
        XCTAssertEqual(breaker.admit(now: at(602)), .probe)
        breaker.recordSuccess(latency: .milliseconds(40), now: at(603))
        XCTAssertNotEqual(breaker.state(now: at(603)), .misconfigured)
        XCTAssertEqual(breaker.admit(now: at(603)), .allowed)
    }

    func testADisabledProviderIsNeverAdmitted() {
        var breaker = CircuitBreakerStateMachine(isEnabled: false)
        XCTAssertEqual(breaker.state(now: at(0)), .disabled)
        XCTAssertEqual(breaker.admit(now: at(1000)), .rejected(until: nil))
    }

    func testErrorRateIsOverTheLastHundredCalls() {
        var breaker = CircuitBreakerStateMachine(configuration: CircuitBreakerConfiguration(failureThreshold: 1000))
        for _ in 0..<100 { breaker.recordFailure(serverError, now: at(0)) }
        XCTAssertEqual(breaker.errorRate, 1)
        for _ in 0..<75 { breaker.recordSuccess(latency: .milliseconds(1), now: at(0)) }
        XCTAssertEqual(breaker.errorRate, 0.25, accuracy: 1e-9)
        XCTAssertEqual(breaker.state(now: at(0)), .degraded, "25% is above the 20% threshold")
        for _ in 0..<10 { breaker.recordSuccess(latency: .milliseconds(1), now: at(0)) }
        XCTAssertEqual(breaker.errorRate, 0.15, accuracy: 1e-9)
        XCTAssertEqual(breaker.state(now: at(0)), .healthy)
    }

    func testLatencyP50OverARingOfRecentSuccesses() {
        var breaker = CircuitBreakerStateMachine(configuration: CircuitBreakerConfiguration(latencyWindow: 5))
        XCTAssertEqual(breaker.latencyP50Milliseconds(now: at(0)), 0)
        for milliseconds in [100, 10, 30, 20, 40] {
            breaker.recordSuccess(latency: .milliseconds(milliseconds), now: at(1))
        }
        XCTAssertEqual(breaker.latencyP50Milliseconds(now: at(1)), 30)
        // The two oldest (100, 10) are pushed out.
        breaker.recordSuccess(latency: .milliseconds(50), now: at(2))
        breaker.recordSuccess(latency: .milliseconds(60), now: at(2))
        XCTAssertEqual(breaker.latencyP50Milliseconds(now: at(2)), 40)
    }

    func testTheThreadSafeBreakerWithAnInjectedClock() {
        let clock = Locked(start)
        let breaker = CircuitBreaker(provider: .fireworks, isEnabled: true, now: { clock.current })
        for _ in 0..<5 { breaker.recordFailure(serverError) }
        XCTAssertEqual(breaker.snapshot().state, .open)
        XCTAssertFalse(breaker.admit().isAllowed)
        clock.withLock { $0 = start + .seconds(1) }
        XCTAssertEqual(breaker.admit(), .probe)
        breaker.recordSuccess(latency: .milliseconds(12))
        let snapshot = breaker.snapshot()
        XCTAssertEqual(snapshot.state, .degraded)
        XCTAssertTrue(snapshot.isRoutable)
        XCTAssertEqual(snapshot.latencyP50Milliseconds, 12)
        XCTAssertEqual(
            snapshot.wire,
            ProviderHealth(name: "fireworks", state: "degraded", errorRate: Float(5.0 / 6.0), latencyP50Ms: 12))
    }

    func testManyThreadsRecordingAtOnce() {
        let breaker = CircuitBreaker(
            provider: .groq, isEnabled: true, configuration: CircuitBreakerConfiguration(failureThreshold: 1_000_000))
        let serverError = serverError
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for index in 0..<1000 {
                if (index + worker) % 4 == 0 {
                    breaker.recordFailure(serverError)
                } else {
                    breaker.recordSuccess(latency: .milliseconds(Int64(index % 50)))
                }
                _ = breaker.admit()
                _ = breaker.snapshot()
            }
        }
        XCTAssertEqual(breaker.snapshot().errorRate, 0.25, accuracy: 0.1)
    }

    func testTheDirectoryReportsEveryProviderInNameOrder() {
        let directory = ProviderDirectory(configurations: [
            ProviderConfiguration(name: .groq, apiKey: APIKey("g")),
            ProviderConfiguration(name: .together, apiKey: nil),
        ])
        let health = directory.health()
        XCTAssertEqual(health.map(\.provider), [.groq, .together])
        XCTAssertEqual(health.map(\.state), [.healthy, .disabled])
        XCTAssertEqual(health.map(\.isRoutable), [true, false])
        XCTAssertEqual(directory.breaker(for: .groq)?.provider, .groq)
        XCTAssertNil(directory.breaker(for: .fireworks), "a provider not configured has no breaker")
        directory.breaker(for: .groq)?.recordFailure(ProviderFailure(kind: .misconfigured, message: "401"))
        XCTAssertEqual(directory.health()[0].wire.state, "misconfigured")
    }

    /// A catalogue reload builds a new directory: a provider whose endpoint and key are the same
    /// keeps its breaker (an open circuit stays open), a changed one gets a fresh breaker.
    func testAReloadedDirectoryKeepsTheBreakersOfUnchangedProviders() throws {
        let before = ProviderDirectory(configurations: [
            ProviderConfiguration(name: .groq, apiKey: APIKey("g")),
            ProviderConfiguration(name: .together, apiKey: APIKey("t")),
        ])
        let after = ProviderDirectory(
            configurations: [
                ProviderConfiguration(name: .groq, apiKey: APIKey("g")),
                ProviderConfiguration(name: .together, apiKey: APIKey("rotated")),
                ProviderConfiguration(
                    name: try XCTUnwrap(ProviderName(rawValue: "local-vllm")), baseURL: "http://h/v1", apiKey: nil,
                    apiKeyEnvironmentVariable: nil),
            ],
            reusing: before)
        XCTAssertTrue(after.breaker(for: .groq) === before.breaker(for: .groq))
        XCTAssertFalse(after.breaker(for: .together) === before.breaker(for: .together))
        XCTAssertEqual(after.names.map(\.rawValue), ["groq", "local-vllm", "together"])
        XCTAssertEqual(after.health().map(\.state), [.healthy, .healthy, .healthy], "a keyless provider is enabled")
    }

    private func opened(
        at seconds: Double, configuration: CircuitBreakerConfiguration = CircuitBreakerConfiguration()
    ) -> CircuitBreakerStateMachine {
        var breaker = CircuitBreakerStateMachine(configuration: configuration)
        for _ in 0..<configuration.failureThreshold { breaker.recordFailure(serverError, now: at(seconds)) }
        XCTAssertEqual(breaker.state(now: at(seconds)), .open)
        return breaker
    }
}
