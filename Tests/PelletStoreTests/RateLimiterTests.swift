import PelletStore
import XCTest

private func passes(_ result: Result<Void, RateLimitExceeded>) -> Bool {
    if case .success = result { return true }
    return false
}

private func retryAfter(_ result: Result<Void, RateLimitExceeded>) -> UInt64? {
    if case .failure(let refusal) = result { return refusal.retryAfterMs }
    return nil
}

final class RateLimiterTests: XCTestCase {
    func testABurstUpToTheLimitPassesAndTheNextCallWaits() {
        let limiter = RateLimiter()
        let start: UInt64 = 5_000_000
        for call in 0..<60 {
            XCTAssertTrue(passes(limiter.acquire(accountID: "acc_a", rpm: 60, now: start)), "call \(call)")
        }
        let refused = limiter.acquire(accountID: "acc_a", rpm: 60, now: start)
        XCTAssertEqual(retryAfter(refused), 1_000)
        if case .failure(let refusal) = refused {
            XCTAssertEqual(refusal.description, "rate limit of 60 requests per minute reached; retry in 1000 ms")
        }
        // Refills continuously: one call a second.
        XCTAssertEqual(retryAfter(limiter.acquire(accountID: "acc_a", rpm: 60, now: start + 999)), 1)
        XCTAssertTrue(passes(limiter.acquire(accountID: "acc_a", rpm: 60, now: start + 1_000)))
        XCTAssertEqual(retryAfter(limiter.acquire(accountID: "acc_a", rpm: 60, now: start + 1_500)), 500)
        // Another account has its own bucket; no limit means no bucket.
        XCTAssertTrue(passes(limiter.acquire(accountID: "acc_b", rpm: 60, now: start)))
        for _ in 0..<1_000 {
            XCTAssertTrue(passes(limiter.acquire(accountID: "acc_a", rpm: 0, now: start)))
        }
        // After a quiet minute the whole burst is back, and no more than that.
        let later = start + 1_000 + 60_000
        for _ in 0..<60 {
            XCTAssertTrue(passes(limiter.acquire(accountID: "acc_a", rpm: 60, now: later)))
        }
        XCTAssertNotNil(retryAfter(limiter.acquire(accountID: "acc_a", rpm: 60, now: later)))
    }

    func testRetryAfterRoundsUpAndALowerLimitAppliesAtOnce() {
        let limiter = RateLimiter()
        XCTAssertTrue(passes(limiter.acquire(accountID: "acc_a", rpm: 1, now: 0)))
        XCTAssertEqual(retryAfter(limiter.acquire(accountID: "acc_a", rpm: 1, now: 0)), 60_000)
        for _ in 0..<7 {
            XCTAssertTrue(passes(limiter.acquire(accountID: "acc_b", rpm: 7, now: 0)))
        }
        XCTAssertEqual(retryAfter(limiter.acquire(accountID: "acc_b", rpm: 7, now: 0)), 8_572, "60 000 / 7, rounded up")

        for _ in 0..<100 {
            _ = limiter.acquire(accountID: "acc_c", rpm: 1_000, now: 0)
        }
        // Down to 10 per minute: the 900 calls left in the bucket shrink to 10.
        for _ in 0..<10 {
            XCTAssertTrue(passes(limiter.acquire(accountID: "acc_c", rpm: 10, now: 1)))
        }
        XCTAssertNotNil(retryAfter(limiter.acquire(accountID: "acc_c", rpm: 10, now: 1)))
    }

    func testConcurrentCallersGetExactlyTheLimit() async {
        let limiter = RateLimiter(clock: { 42 })
        let passed = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    (0..<500).reduce(0) { count, _ in
                        count + (passes(limiter.acquire(accountID: "acc_busy", rpm: 1_200)) ? 1 : 0)
                    }
                }
            }
            return await group.reduce(0, +)
        }
        XCTAssertEqual(passed, 1_200)
    }

    func testIdleBucketsAreSweptWithoutChangingTheOutcome() {
        let limiter = RateLimiter(stripes: 1)
        for index in 0..<5_000 {
            _ = limiter.acquire(accountID: "acc_\(index)", rpm: 1, now: UInt64(index) * 100)
        }
        // Sweeps run during both loops; the buckets used within the last minute must survive them.
        for index in 4_500..<5_000 {
            XCTAssertNotNil(
                retryAfter(limiter.acquire(accountID: "acc_\(index)", rpm: 1, now: 499_950)),
                "acc_\(index)"
            )
        }
        for index in 0..<100 {
            XCTAssertTrue(passes(limiter.acquire(accountID: "acc_\(index)", rpm: 1, now: 499_950)))
        }
    }
}
