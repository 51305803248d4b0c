import Foundation
import PelletRouter
import PelletWire
import XCTest

/// The classifier's accuracy on prompts it was not trained on, against a keyword baseline.
///
/// Measured (tools/router-data/train_classifier.py prints the same figures):
///   held-out split of prompts.jsonl (81 prompts):  classifier 0.827, keyword baseline 0.630
///   public MT-Bench + Vicuna (160 prompts):        classifier 0.631, keyword baseline 0.413
/// Thresholds: 0.75 held-out and 0.55 public. The held-out estimate has a standard error of
/// about 4 points (n = 81) and the public one about 4 points (n = 160), so each threshold sits
/// roughly two standard errors below the measurement: a retrained model that is really as good
/// passes, one that fell back to the baseline's level (0.63 and 0.41) fails. The public set is harder than the
/// held-out split: its labels follow its own categories (an email or a blog post is "writing",
/// so creative; "generic" advice is chat, a fuzzy line against qa), and nothing was tuned on it.
final class ClassifierAccuracyTests: XCTestCase {
    static let heldOutThreshold = 0.75
    static let publicThreshold = 0.55

    let classifier = TaskClassifier()

    func testHeldOutAccuracy() throws {
        let prompts = try LabeledPrompts.pellet(split: "heldout")
        XCTAssertEqual(prompts.count, 81)
        let accuracy = report("held-out split", prompts)
        XCTAssertGreaterThanOrEqual(accuracy.classifier, Self.heldOutThreshold)
        XCTAssertGreaterThan(accuracy.classifier, accuracy.baseline)
    }

    func testPublicSetAccuracy() throws {
        let prompts = try LabeledPrompts.publicSet()
        XCTAssertEqual(prompts.count, 160)
        let accuracy = report("public MT-Bench + Vicuna", prompts)
        XCTAssertGreaterThanOrEqual(accuracy.classifier, Self.publicThreshold)
        XCTAssertGreaterThan(accuracy.classifier, accuracy.baseline)
    }

    /// Difficulty labels exist only for Pellet's own prompts; easy/medium/hard is judged by the
    /// author, so "within one step" is the property that matters for the quality floor.
    func testHeldOutDifficulty() throws {
        let prompts = try LabeledPrompts.pellet(split: "heldout")
        var exact = 0
        var withinOne = 0
        for prompt in prompts {
            let predicted = classifier.classify(prompt.messages).difficulty
            let truth = try XCTUnwrap(prompt.difficulty)
            let order: [Difficulty] = [.easy, .medium, .hard]
            let distance = abs(order.firstIndex(of: predicted)! - order.firstIndex(of: truth)!)
            if distance == 0 { exact += 1 }
            if distance <= 1 { withinOne += 1 }
        }
        let exactShare = Double(exact) / Double(prompts.count)
        let withinShare = Double(withinOne) / Double(prompts.count)
        print("difficulty on the held-out split: exact \(format(exactShare)), within one step \(format(withinShare))")
        // Measured 0.63 exact and 1.00 within one step.
        XCTAssertGreaterThanOrEqual(exactShare, 0.5)
        XCTAssertGreaterThanOrEqual(withinShare, 0.95)
    }

    func testConfidenceIsAProbability() throws {
        for prompt in try LabeledPrompts.pellet(split: "heldout") {
            let result = classifier.classify(prompt.messages)
            XCTAssertGreaterThan(result.confidence, 0.1 - 1e-6)  // at least uniform over 10 classes
            XCTAssertLessThanOrEqual(result.confidence, 1)
        }
    }

    /// A rough timing, printed, not asserted (debug builds are far slower; see the release figure
    /// in tools/router-data/README.md).
    func testTimingOfA2000CharacterPrompt() {
        let messages = [ChatMessage(role: "user", content: Self.prompt2000)]
        var samples: [Double] = []
        for _ in 0..<20 { _ = classifier.classify(messages) }
        for _ in 0..<500 {
            let start = ContinuousClock.now
            let result = classifier.classify(messages)
            let elapsed = ContinuousClock.now - start
            precondition(result.confidence > 0)
            samples.append(Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6)
        }
        samples.sort()
        print(
            "classify, \(Self.prompt2000.utf8.count)-byte prompt: p50 \(format(samples[samples.count / 2])) µs, "
                + "p99 \(format(samples[samples.count * 99 / 100])) µs (this build's configuration)"
        )

        // The whole decision: validation, classification, token estimate, ranking, reason.
        let router = Router(catalogue: Catalogue.bundled)
        let request = RouteRequest(messages: messages, preference: .cost)
        samples.removeAll()
        for _ in 0..<500 {
            let start = ContinuousClock.now
            let decision = try? router.route(request)
            let elapsed = ContinuousClock.now - start
            precondition(decision != nil)
            samples.append(Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6)
        }
        samples.sort()
        print(
            "route, same prompt: p50 \(format(samples[samples.count / 2])) µs, "
                + "p99 \(format(samples[samples.count * 99 / 100])) µs (this build's configuration)"
        )
    }

    static let prompt2000: String = {
        let paragraph = """
            Our checkout service times out under load. When more than 200 requests per second arrive, \
            the p99 latency climbs from 80 ms to 4 s and the database connection pool (size 20) is \
            exhausted. Here is the handler:
            ```python
            def checkout(cart_id):
                cart = db.query("SELECT * FROM carts WHERE id = %s", cart_id)
                for item in cart.items:
                    stock = db.query("SELECT qty FROM stock WHERE sku = %s", item.sku)
                    if stock.qty < item.qty:
                        raise OutOfStock(item.sku)
                return charge(cart)
            ```
            Please explain what is wrong, propose a fix with batching, and estimate the new latency.

            """
        var text = ""
        while text.utf8.count < 2000 { text += paragraph }
        return String(text.utf8.prefix(2000))!
    }()

    private func report(_ name: String, _ prompts: [LabeledPrompt]) -> (classifier: Double, baseline: Double) {
        var predicted: [TaskType] = []
        var baseline: [TaskType] = []
        for prompt in prompts {
            predicted.append(classifier.classify(prompt.messages).task)
            baseline.append(KeywordBaseline.classify(prompt.messages))
        }
        let truth = prompts.map(\.task)
        let accuracy = share(zip(truth, predicted).filter { $0 == $1 }.count, of: prompts.count)
        let baselineAccuracy = share(zip(truth, baseline).filter { $0 == $1 }.count, of: prompts.count)
        var lines = [
            "\(name): \(prompts.count) prompts; classifier accuracy \(format(accuracy)), keyword baseline \(format(baselineAccuracy))",
            "  task            classifier P/R    baseline P/R     n",
        ]
        for task in TaskType.allCases {
            let count = truth.filter { $0 == task }.count
            let (precision, recall) = precisionRecall(task, truth: truth, predicted: predicted)
            let (basePrecision, baseRecall) = precisionRecall(task, truth: truth, predicted: baseline)
            let padded = task.rawValue.padding(toLength: 15, withPad: " ", startingAt: 0)
            lines.append("  \(padded) \(precision) / \(recall)    \(basePrecision) / \(baseRecall)   \(count)")
        }
        print(lines.joined(separator: "\n"))
        return (accuracy, baselineAccuracy)
    }

    private func precisionRecall(_ task: TaskType, truth: [TaskType], predicted: [TaskType]) -> (String, String) {
        let truePositives = zip(truth, predicted).filter { $0 == task && $1 == task }.count
        let predictedCount = predicted.filter { $0 == task }.count
        let actualCount = truth.filter { $0 == task }.count
        let precision = predictedCount == 0 ? "  - " : format(share(truePositives, of: predictedCount))
        let recall = actualCount == 0 ? "  - " : format(share(truePositives, of: actualCount))
        return (precision, recall)
    }

    private func share(_ part: Int, of whole: Int) -> Double {
        whole == 0 ? 0 : Double(part) / Double(whole)
    }
}

func format(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    let fraction = String(hundredths % 100)
    return "\(hundredths / 100)." + (fraction.count == 1 ? "0" : "") + fraction
}
