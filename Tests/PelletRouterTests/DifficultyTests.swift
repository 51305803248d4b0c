import Foundation
import PelletRouter
import PelletWire
import XCTest

/// The difficulty score judged as RouteLLM judges a router (tools/router-data/difficulty.py does
/// the same in Python): send the prompts scoring highest to the strong model and measure how
/// much of the gap between the weak and the strong model that recovers.
final class DifficultyTests: XCTestCase {
    let classifier = TaskClassifier()

    /// RouteLLM's MT-Bench judgements (`../shared/data/routing/routellm/mt_bench.jsonl`, the 72
    /// questions left after decontamination): none of them trained the score. Measured APGR
    /// 0.614 (tools/router-data/evaluate; a random router scores 0.50 on average, 0.507 over 20
    /// draws here), above issue 16's aim of 0.55. The score is deterministic for given weights,
    /// so the floor guards retraining: with 72 questions a standard error is about 0.09
    /// (bootstrap), and a floor two of them below would sit below random; it sits at the aim plus
    /// a little instead, so a retrained score that falls back to the earlier features' 0.54 fails.
    func testMTBenchAPGRBeatsARandomRouter() throws {
        var scores: [Double] = []
        var weak: [Double] = []
        var strong: [Double] = []
        for row in try LabeledPrompts.jsonLines(LabeledPrompts.sharedData("routing/routellm/mt_bench.jsonl")) {
            guard row["contaminated"] as? Bool == false else { continue }
            let turns = try XCTUnwrap(row["turns"] as? [String])
            let judged = try XCTUnwrap(row["scores"] as? [String: [Double]])
            let weakTurns = try XCTUnwrap(judged["mistralai/Mixtral-8x7B-Instruct-v0.1"])
            let strongTurns = try XCTUnwrap(judged["gpt-4-1106-preview"])
            scores.append(Double(classifier.classify([ChatMessage(role: "user", content: turns[0])]).difficultyScore))
            weak.append(weakTurns.reduce(0, +) / Double(weakTurns.count))
            strong.append(strongTurns.reduce(0, +) / Double(strongTurns.count))
        }
        XCTAssertEqual(scores.count, 72)
        let result = Self.apgr(scores: scores, weak: weak, strong: strong)
        print("difficulty on MT-Bench (72 questions): APGR \(format(result))")
        XCTAssertGreaterThanOrEqual(result, 0.57)
    }

    func testThreeStepsFollowTheScore() {
        let prompts = [
            "hi!",
            "Thanks, that helps.",
            "What is the capital of Peru?",
            "Prove that there are infinitely many primes p such that p + 2 is also prime, or explain why this is open.",
            "Alice is taller than Bob, Bob is taller than Carol, and Dana is shorter than Carol but taller than Eve. "
                + "Who is the second shortest? Explain your reasoning step by step.",
            String(repeating: "Clause 4.2 limits liability to direct damages unless gross negligence is shown. ", count: 30)
                + "\nGiven the clauses above, which party bears the loss if the shipment is destroyed in transit, and why?",
        ]
        var seen: Set<Difficulty> = []
        for text in prompts {
            let result = classifier.classify([ChatMessage(role: "user", content: text)])
            seen.insert(result.difficulty)
            for other in prompts {
                let second = classifier.classify([ChatMessage(role: "user", content: other)])
                if second.difficultyScore > result.difficultyScore {
                    XCTAssertGreaterThanOrEqual(second.difficulty.rank, result.difficulty.rank, "\(other) vs \(text)")
                }
            }
        }
        XCTAssertGreaterThan(seen.count, 1, "every prompt got the same step")
    }

    /// RouteLLM's APGR: thresholds at the deciles of the scores; at each, prompts at or above it
    /// go to the strong model; the area under performance against the share of strong calls,
    /// between the weak and the strong model's flat lines.
    static func apgr(scores: [Double], weak: [Double], strong: [Double]) -> Double {
        let sorted = scores.sorted()
        func quantile(_ q: Double) -> Double {
            let position = q * Double(sorted.count - 1)
            let low = Int(position.rounded(.down))
            let high = min(low + 1, sorted.count - 1)
            return sorted[low] + (sorted[high] - sorted[low]) * (position - Double(low))
        }
        let weakMean = weak.reduce(0, +) / Double(weak.count)
        let strongMean = strong.reduce(0, +) / Double(strong.count)
        var points: Set<[Double]> = [[0, weakMean], [1, strongMean]]
        for threshold in Set((0...10).map { quantile(Double($0) / 10) }) {
            var strongCalls = 0
            var performance = 0.0
            for index in scores.indices {
                if scores[index] >= threshold {
                    strongCalls += 1
                    performance += strong[index]
                } else {
                    performance += weak[index]
                }
            }
            points.insert([Double(strongCalls) / Double(scores.count), performance / Double(scores.count)])
        }
        let curve = points.sorted { $0[0] != $1[0] ? $0[0] < $1[0] : $0[1] < $1[1] }
        var area = 0.0
        for index in 1..<curve.count {
            area += (curve[index][0] - curve[index - 1][0]) * (curve[index][1] + curve[index - 1][1]) / 2
        }
        return (area - weakMean) / (strongMean - weakMean)
    }
}

extension Difficulty {
    fileprivate var rank: Int {
        switch self {
        case .easy: 0
        case .medium: 1
        case .hard: 2
        }
    }
}
