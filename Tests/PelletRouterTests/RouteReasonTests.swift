import PelletWire
import XCTest

@testable import PelletRouter

/// The reason sentence is written into one byte buffer for speed; it must say exactly what the
/// plain string formatting said (the wire carries it, and callers may show or compare it).
final class RouteReasonTests: XCTestCase {
    func testTheSentenceIsTheSameAsThePlainFormattingForEveryShape() {
        var compared = 0
        for preference in Preference.allCases {
            for difficulty in Difficulty.allCases {
                for (explicit, meetsFloor) in [(true, true), (false, true), (false, false)] {
                    for tolerance in [0.0, 0.05] {
                        for providerCount in [1, 3] {
                            for degraded in [false, true] {
                                for (score, cost, latency) in [
                                    (0.7, UInt64(412), 850.4), (0.005, 0, 9_999.6), (0.999, 1_234_567, 10_000),
                                    (1.0, 12_000_000_000, 123_456.7), (0.125, 999_999, 0.4),
                                ] {
                                    let primary = Candidate(
                                        modelIndex: 0, nameRank: 0, provider: 0, score: score,
                                        costNumerator: cost * 1_000_000, latencyMs: latency, degraded: degraded)
                                    let context = DecisionContext(
                                        task: TaskType.allCases[compared % TaskType.allCases.count],
                                        taskFromHint: compared % 2 == 0, confidence: 0.5, difficulty: difficulty,
                                        difficultyScore: Float(compared % 101) / 100, promptTokens: 12,
                                        maxTokens: UInt32(compared % 3 == 0 ? 0 : 40_000 + compared),
                                        preference: preference, floor: [0.7, 0.655, 0.0][compared % 3])
                                    let bestScore = [1.0, 0.994][compared % 2]
                                    XCTAssertEqual(
                                        RouteReason.sentence(
                                            for: primary, modelID: "nemotron-3.5-lightning", providerName: "fireworks",
                                            context: context, explicit: explicit, meetsFloor: meetsFloor,
                                            bestScore: bestScore, tolerance: tolerance, providerCount: providerCount),
                                        PlainRouteReason.sentence(
                                            for: primary, modelID: "nemotron-3.5-lightning", providerName: "fireworks",
                                            context: context, explicit: explicit, meetsFloor: meetsFloor,
                                            bestScore: bestScore, tolerance: tolerance, providerCount: providerCount))
                                    compared += 1
                                }
                            }
                        }
                    }
                }
            }
        }
        XCTAssertEqual(compared, 4 * 3 * 3 * 2 * 2 * 2 * 5)
    }

    func testNumbersAreFormattedAsBefore() {
        for microUSD: UInt64 in [0, 1, 9, 412, 999_999, 1_000_000, 1_000_001, 123_456_789, .max] {
            XCTAssertEqual(RouteReason.dollars(microUSD), PlainRouteReason.dollars(microUSD))
        }
        XCTAssertEqual(RouteReason.dollars(412), "$0.000412")
        for value in [0, 0.004, 0.005, 0.01, 0.1, 0.7, 0.994, 0.995, 1, 12.3456, -0.05, -0.3, -1.25] {
            XCTAssertEqual(RouteReason.decimal(value), PlainRouteReason.decimal(value), "\(value)")
        }
        XCTAssertEqual(RouteReason.decimal(0.7), "0.70")
        for value in [0, 0.4, 0.5, 999.5, 9_999.4, 9_999.6, 10_000, 10_499, 10_500, 1e9, -3] {
            XCTAssertEqual(RouteReason.milliseconds(value), PlainRouteReason.milliseconds(value), "\(value)")
        }
    }
}

/// RouteReason as it was written with string interpolation: the reference the faster one must
/// match byte for byte.
private enum PlainRouteReason {
    static func sentence(
        for primary: Candidate,
        modelID model: String,
        providerName provider: String,
        context: DecisionContext,
        explicit: Bool,
        meetsFloor: Bool,
        bestScore: Double,
        tolerance: Double,
        providerCount: Int
    ) -> String {
        let task = context.task.rawValue
        let level = "\(context.difficulty), difficulty \(decimal(Double(context.difficultyScore)))"
        let opening =
            context.taskFromHint
            ? "\(task) task (from task_hint, \(level))"
            : "\(task) task (\(level))"
        let prompt = "for a\(context.difficulty == .easy ? "n" : "") \(context.difficulty) prompt"
        let price = dollars(primary.cost)
        let floor = decimal(context.floor)
        let score = decimal(primary.score)
        var sentence: String
        if explicit {
            let choice: String
            switch context.preference {
            case .cost, .balanced: choice = "the cheapest"
            case .quality: choice = "the cheapest (quality is the model's own)"
            case .latency:
                choice = "the fastest, about \(milliseconds(primary.latencyMs)) for \(context.maxTokens) tokens,"
            }
            let providers =
                providerCount == 1
                ? "its only available provider" : "\(choice) of its \(providerCount) available providers"
            sentence = "\(opening); requested model \(model) on \(provider), \(providers), at \(price)"
        } else if !meetsFloor {
            sentence =
                "\(opening); no available model meets the \(task) quality floor \(floor), so the best available: "
                + "\(model) on \(provider) (score \(score)) at \(price)"
        } else {
            switch context.preference {
            case .cost:
                sentence =
                    "\(opening); cheapest model meeting the \(task) quality floor \(floor) \(prompt): \(model) on \(provider) at \(price)"
            case .quality where tolerance > 0 && primary.score < bestScore:
                sentence =
                    "\(opening); cheapest model within \(decimal(tolerance)) of the best \(task) quality "
                    + "\(decimal(bestScore)) \(prompt): \(model) on \(provider) (score \(score)) at \(price)"
            case .quality:
                sentence = "\(opening); best \(task) quality (score \(score)): \(model) on \(provider) at \(price)"
            case .latency:
                sentence =
                    "\(opening); fastest model meeting the \(task) quality floor \(floor) \(prompt): \(model) on \(provider), "
                    + "about \(milliseconds(primary.latencyMs)) for \(context.maxTokens) tokens, at \(price)"
            case .balanced:
                sentence =
                    "\(opening); best quality per dollar above the \(task) floor \(floor) \(prompt): \(model) on \(provider) "
                    + "(score \(score)) at \(price)"
            }
        }
        if primary.degraded { sentence += " (\(provider) is degraded; no healthy candidate qualified)" }
        return sentence
    }

    /// Micro-USD as dollars with six decimals: 412 → "$0.000412". No Foundation formatting, so the
    /// text is the same on every platform and locale.
    static func dollars(_ microUSD: UInt64) -> String {
        let fraction = String(microUSD % 1_000_000)
        return "$\(microUSD / 1_000_000)." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }

    /// Two decimals: 0.7 → "0.70".
    static func decimal(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        let fraction = String(hundredths % 100)
        return "\(hundredths / 100)." + (fraction.count == 1 ? "0" : "") + fraction
    }

    static func milliseconds(_ value: Double) -> String {
        value >= 10_000 ? "\(Int((value / 1000).rounded())) s" : "\(Int(value.rounded())) ms"
    }
}
