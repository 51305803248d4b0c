import Foundation

/// Counts chat completion requests by outcome, shared by every connection.
///
/// Every request is counted in `requests` when it arrives and ends in exactly one of `ok`,
/// `errors_4xx`, `errors_5xx`, `malformed`, `disconnected` or `cancelled_by_client`, or is still
/// `in_flight`, so those seven always add up to `requests`. `streamed` (an event stream was
/// started) and `hung` (the `hang` behaviour began) are tags on top of that.
public final class MockStats: @unchecked Sendable {
    // @unchecked: every access to the mutable state below holds `lock`.
    enum Outcome: Sendable {
        case ok
        case clientError
        case serverError
        case malformed
        case disconnected
        case cancelledByClient
    }

    /// The counters at one moment, for in-process tests (the HTTP endpoint serves `json()`).
    public struct Snapshot: Sendable, Equatable {
        public var requests = 0
        public var ok = 0
        public var streamed = 0
        public var errors4xx = 0
        public var errors5xx = 0
        public var hung = 0
        public var disconnected = 0
        public var malformed = 0
        public var cancelledByClient = 0
        public var inFlight = 0
        /// The most requests in flight at once (since the start or the last reset): how many a
        /// client really sent concurrently.
        public var mostInFlight = 0
        public var promptTokens = 0
        public var completionTokens = 0
        /// Requests that set no `max_tokens` (a gateway that bounds every call's cost sends one).
        public var withoutMaxTokens = 0
        /// The largest `max_tokens` a request set.
        public var largestMaxTokens = 0
    }


    private let lock = NSLock()
    private var counters = Snapshot()
    private var lastID: UInt64 = 0

    /// Counts a new request and returns its number (unique for this process, used in response ids).
    func begin() -> UInt64 {
        lock.withLock {
            counters.requests += 1
            counters.inFlight += 1
            counters.mostInFlight = max(counters.mostInFlight, counters.inFlight)
            lastID += 1
            return lastID
        }
    }

    func noteMaxTokens(_ maxTokens: Int) {
        lock.withLock {
            if maxTokens <= 0 { counters.withoutMaxTokens += 1 }
            counters.largestMaxTokens = max(counters.largestMaxTokens, maxTokens)
        }
    }

    func markStreamed() { lock.withLock { counters.streamed += 1 } }
    func markHung() { lock.withLock { counters.hung += 1 } }

    /// `promptTokens` and `completionTokens` are added to the totals only for `ok`: they are what
    /// the gateway should have metered.
    func finish(_ outcome: Outcome, promptTokens: Int = 0, completionTokens: Int = 0) {
        lock.withLock {
            counters.inFlight -= 1
            switch outcome {
            case .ok:
                counters.ok += 1
                counters.promptTokens += promptTokens
                counters.completionTokens += completionTokens
            case .clientError: counters.errors4xx += 1
            case .serverError: counters.errors5xx += 1
            case .malformed: counters.malformed += 1
            case .disconnected: counters.disconnected += 1
            case .cancelledByClient: counters.cancelledByClient += 1
            }
        }
    }

    /// Zeroes the counters; requests in flight stay counted in `in_flight` and `requests` so the
    /// sums still hold when they end.
    public func reset() {
        lock.withLock {
            let inFlight = counters.inFlight
            counters = Snapshot()
            counters.inFlight = inFlight
            counters.requests = inFlight
            counters.mostInFlight = inFlight
        }
    }

    public var snapshot: Snapshot { lock.withLock { counters } }


    /// The `/_mock/stats` body, keys in a fixed order.
    func json() -> String {
        let c = lock.withLock { counters }
        let fields: [(String, Int)] = [
            ("requests", c.requests), ("ok", c.ok), ("streamed", c.streamed), ("errors_4xx", c.errors4xx),
            ("errors_5xx", c.errors5xx), ("hung", c.hung), ("disconnected", c.disconnected),
            ("malformed", c.malformed), ("cancelled_by_client", c.cancelledByClient), ("in_flight", c.inFlight),
            ("prompt_tokens", c.promptTokens), ("completion_tokens", c.completionTokens),
            ("without_max_tokens", c.withoutMaxTokens), ("largest_max_tokens", c.largestMaxTokens),
        ]
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }
}
