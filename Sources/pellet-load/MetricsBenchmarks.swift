import PelletRouter
import PelletServer
import PelletWire

/// The metrics' recording path, which every call takes on its event loop: it must cost no lock
/// and no allocation (allocs/op 0).
enum MetricsBenchmarks {
    static func all() throws -> [MicroBenchmark] {
        let server = ServerMetrics()
        let complete = CompleteMetrics(catalogue: try Catalogue.loadBundled())
        let recentOverhead = RecentLatencies()
        let histogram = DurationHistograms(boundsSeconds: DurationHistograms.latencyBoundsSeconds)
        // A catalogue offer (not a provider's "other" series), found by its model's name as a call's is.
        guard let offer = complete.offers.last(where: { $0.model != "other" }) else {
            throw MicroError("the bundled catalogue has no offer")
        }
        let usage = TokenUsage(promptTokens: 120, completionTokens: 48)
        var nanoseconds: UInt64 = 1_000
        return [
            MicroBenchmark("metrics.histogram", notes: "DurationHistograms.record, values 1 µs to ~1 s") {
                nanoseconds = nanoseconds &* 3 % 1_000_000_007
                histogram.record(nanoseconds: nanoseconds)
                blackHole(nanoseconds)
            },
            MicroBenchmark(
                "metrics.call", notes: "ServerMetrics.callStarted + callFinished (calls_total, duration histogram)"
            ) {
                server.callStarted()
                server.callFinished(.route, status: .ok, nanoseconds: 85_000)
                blackHole(server)
            },
            MicroBenchmark(
                "metrics.complete",
                notes:
                    "a Complete call's recording: its series resolved by name, attempt (outcome, duration, TTFT), "
                    + "usage (3 token kinds, cost), "
                    + "overhead (the histogram and Health's recent window); \(offer.provider)/\(offer.model)"
            ) {
                // Resolved once per attempt, as CompleteCall does, then used for the attempt and the usage.
                guard let series = complete.offer(provider: offer.provider, model: offer.model) else { return }
                complete.recordAttempt(series, failure: nil, nanoseconds: 40_000_000, firstToken: 12_000_000)
                complete.recordUsage(series, usage: usage, costMicroUSD: 31)
                complete.recordOverhead(nanoseconds: 90_000)
                recentOverhead.record(microseconds: 90)
                blackHole(complete)
            },
            MicroBenchmark(
                "metrics.attempt-failed",
                notes: "a provider attempt that failed (a fallback follows): its series resolved, outcome by kind, duration"
            ) {
                guard let series = complete.offer(provider: offer.provider, model: offer.model) else { return }
                complete.recordAttempt(series, failure: .rateLimited, nanoseconds: 3_000_000, firstToken: nil)
                blackHole(complete)
            },
        ]
    }
}
