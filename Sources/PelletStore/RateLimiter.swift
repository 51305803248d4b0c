/// A call refused by an account's rate limit. The server answers RESOURCE_EXHAUSTED with
/// ``description`` as the message and ``retryAfterMs`` as `retry_after_ms`.
public struct RateLimitExceeded: Error, Sendable, Equatable, CustomStringConvertible {
    /// When the account's next call will be admitted (if nothing else takes the token first).
    public let retryAfterMs: UInt64
    public let requestsPerMinute: UInt32

    public init(retryAfterMs: UInt64, requestsPerMinute: UInt32) {
        self.retryAfterMs = retryAfterMs
        self.requestsPerMinute = requestsPerMinute
    }

    public var description: String {
        "rate limit of \(requestsPerMinute) requests per minute reached; retry in \(retryAfterMs) ms"
    }
}

/// Per-account rate limits (`rate_limit_rpm`), in memory, for one server: a token bucket per
/// account holding up to a minute's worth of calls, refilled continuously.
///
/// A burst of `rpm` calls passes at once; after that one call per `60 000 / rpm` ms. The bucket
/// counts in units of 1/60 000 of a call, so the refill is `rpm` units per millisecond and all
/// arithmetic is exact integers. An account's state lives in one of several lock stripes, so
/// event loops rarely contend. A bucket idle for a minute is full, which is the same as no
/// bucket: such buckets are swept out, and memory stays proportional to the recently active
/// accounts.
public final class RateLimiter: Sendable {
    private struct Bucket {
        var units: UInt64
        var updatedMs: UInt64
    }

    private struct Stripe {
        var buckets: [String: Bucket] = [:]
        var acquisitionsSinceSweep = 0
    }

    /// One call; also the milliseconds in a minute, which is what makes the refill `rpm`/ms.
    static let unitsPerCall: UInt64 = 60_000
    /// How many acquisitions a stripe makes between sweeps of its idle buckets.
    static let sweepInterval = 1_024

    private let stripes: [LockedState<Stripe>]
    private let clock: @Sendable () -> UInt64

    /// `clock` gives milliseconds from any fixed origin; a monotonic clock by default.
    public init(stripes: Int = 16, clock: @escaping @Sendable () -> UInt64 = RateLimiter.monotonicMilliseconds) {
        self.stripes = (0..<max(1, stripes)).map { _ in LockedState(Stripe()) }
        self.clock = clock
    }

    public static let monotonicMilliseconds: @Sendable () -> UInt64 = { monotonicNanoseconds() / 1_000_000 }

    /// Takes one call from the account's bucket, or says when to retry. `rpm` 0 means no limit.
    /// `now` (milliseconds on the limiter's clock) defaults to the limiter's clock. A change of
    /// `rpm` applies at once (a lower limit trims the bucket).
    public func acquire(accountID: String, rpm: UInt32, now: UInt64? = nil) -> Result<Void, RateLimitExceeded> {
        guard rpm > 0 else { return .success(()) }
        let now = now ?? clock()
        let rate = UInt64(rpm)
        let capacity = rate * Self.unitsPerCall
        let stripe = stripes[Int(UInt(bitPattern: accountID.hashValue) % UInt(stripes.count))]
        return stripe.withLock { stripe in
            stripe.acquisitionsSinceSweep += 1
            if stripe.acquisitionsSinceSweep >= Self.sweepInterval {
                stripe.acquisitionsSinceSweep = 0
                stripe.buckets = stripe.buckets.filter { now < $0.value.updatedMs &+ Self.unitsPerCall }
            }
            var bucket = stripe.buckets[accountID] ?? Bucket(units: capacity, updatedMs: now)
            if now > bucket.updatedMs {
                let (refill, overflow) = (now - bucket.updatedMs).multipliedReportingOverflow(by: rate)
                bucket.units = overflow ? capacity : min(capacity, bucket.units.addingSaturated(refill))
                bucket.updatedMs = now
            }
            bucket.units = min(bucket.units, capacity)
            defer { stripe.buckets[accountID] = bucket }
            guard bucket.units >= Self.unitsPerCall else {
                let missing = Self.unitsPerCall - bucket.units
                return .failure(RateLimitExceeded(retryAfterMs: (missing + rate - 1) / rate, requestsPerMinute: rpm))
            }
            bucket.units -= Self.unitsPerCall
            return .success(())
        }
    }
}
