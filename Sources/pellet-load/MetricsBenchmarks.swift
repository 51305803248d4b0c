import PelletRouter
import PelletServer
import PelletWire

/// The metrics' recording path, which every call takes on its event loop: it must cost no lock
/// and no allocation (allocs/op 0).
enum MetricsBenchmarks {
    static func all() throws -> [MicroBenchmark] {
        let server = ServerMetrics()
        let complete = CompleteMetrics(catalogue: try Catalogue.loadBundled())
        let histogram = DurationHistograms(boundsSeconds: DurationHistograms.latencyBoundsSeconds)
        let offer = complete.offers[complete.offers.count / 2]
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
                    "a Complete call's recording: attempt (outcome, duration, TTFT), usage (3 token kinds, cost), "
                    + "overhead; \(offer.provider)/\(offer.model)"
            ) {
                complete.recordAttempt(
                    provider: offer.provider, model: offer.model, failure: nil, nanoseconds: 40_000_000,
                    firstToken: 12_000_000)
                complete.recordUsage(provider: offer.provider, model: offer.model, usage: usage, costMicroUSD: 31)
                complete.recordOverhead(nanoseconds: 90_000)
                blackHole(complete)
            },
        ]
    }
}
