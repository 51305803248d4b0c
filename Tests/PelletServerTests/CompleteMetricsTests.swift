import PelletProviders
import PelletRouter
import PelletServer
import PelletTesting
import XCTest

/// What `/metrics` says of provider attempts: every failure kind under its own outcome label,
/// none of them as "ok" (a model-not-found answer once was), read from the rendered exposition.
final class CompleteMetricsTests: XCTestCase {
    func testEveryFailureKindIsCountedUnderItsOwnOutcome() throws {
        let complete = CompleteMetrics(catalogue: try Catalogue.loadBundled())
        let offer = complete.offers[0]
        for kind in ProviderFailure.Kind.allCases {
            complete.recordAttempt(
                provider: offer.provider, model: offer.model, failure: kind, nanoseconds: 1_000, firstToken: nil)
        }
        complete.recordAttempt(
            provider: offer.provider, model: offer.model, failure: nil, nanoseconds: 1_000, firstToken: 500)
        let samples = PrometheusSamples(MetricsExposition(server: ServerMetrics(), complete: complete).render())
        func attempts(_ outcome: String) -> Double? {
            samples[
                "pellet_provider_requests_total",
                #"provider="\#(offer.provider)",model="\#(offer.model)",outcome="\#(outcome)""#]
        }
        XCTAssertEqual(attempts("ok"), 1)
        XCTAssertEqual(attempts("model_unavailable"), 1)
        XCTAssertEqual(attempts("first_token_timeout"), 1)
        let labels = CompleteMetrics.outcomeLabels
        // The README's list and the dashboards' queries name these: a renamed kind must be seen.
        XCTAssertEqual(
            labels,
            [
                "ok", "bad_request", "model_unavailable", "misconfigured", "rate_limited", "provider_error",
                "connection_failed", "timed_out", "first_token_timeout", "idle_timeout", "malformed_response",
                "incomplete_stream", "cancelled",
            ])
        XCTAssertEqual(Set(labels).count, ProviderFailure.Kind.allCases.count + 1, "two kinds share a label: \(labels)")
        for label in labels {
            XCTAssertEqual(attempts(label), 1, label)
        }
        XCTAssertEqual(samples.sum("pellet_provider_requests_total"), Double(labels.count))
    }
}
