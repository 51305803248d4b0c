import Foundation
import PelletRouter
import PelletWire
import XCTest

/// The classifier's accuracy on public prompts it was not trained on, against a keyword baseline.
///
/// Measured (tools/router-data/evaluate prints the same figures with the Python trainer's model,
/// and README.md "Routing quality" holds the tables):
///   routing/test (4,667 prompts of held-out tasks, templates, documents and languages):
///     accuracy 0.865, macro-F1 0.862, lowest class recall 0.75 (classification)
///   MT-Bench + Vicuna (160 first turns): accuracy 0.781; keyword baseline 0.41
/// Issue 16 asks for MT-Bench + Vicuna >= 0.85 and routing/test macro-F1 >= 0.85 with no class
/// recall below 0.70; routing/test's are met, MT-Bench + Vicuna's is not (README "Routing
/// quality" says where it falls short). The floors here guard what it does reach: they sit about
/// two standard errors below the measurements (routing/test: about 0.5 points on accuracy, n =
/// 4,667; a class's recall about 1.7 points at n = 541 to 610; MT-Bench + Vicuna: about 3.3
/// points, n = 160), so a retrained model that is really as good passes and one that lost ground
/// fails. Raise them with the model. (The fifth round gave up 0.6 points of routing/test
/// macro-F1 for one more MT-Bench + Vicuna prompt; the macro-F1 floor stays where the fourth
/// round put it, 0.7 points below the measurement.)
final class ClassifierAccuracyTests: XCTestCase {
    static let routingTestMacroF1Floor = 0.855
    static let routingTestRecallFloor = 0.72
    static let publicAccuracyFloor = 0.72

    let classifier = TaskClassifier()

    func testRoutingTestSetFloors() throws {
        let prompts = try LabeledPrompts.routingTest()
        XCTAssertEqual(prompts.count, 4667)
        let result = report("routing/test", prompts)
        XCTAssertGreaterThanOrEqual(result.macroF1, Self.routingTestMacroF1Floor)
        for (task, recall) in result.recalls {
            XCTAssertGreaterThanOrEqual(recall, Self.routingTestRecallFloor, "recall of \(task)")
        }
        XCTAssertGreaterThan(result.accuracy, result.baseline)
    }

    func testPublicSetAccuracy() throws {
        let prompts = try LabeledPrompts.publicSet()
        XCTAssertEqual(prompts.count, 160)
        let result = report("public MT-Bench + Vicuna", prompts)
        XCTAssertGreaterThanOrEqual(result.accuracy, Self.publicAccuracyFloor)
        XCTAssertGreaterThan(result.accuracy, result.baseline)
    }

    /// The language a request is written in does not decide its task: code asked for in
    /// Spanish is code, a translation asked for in German is translation. None of these prompts
    /// is in the training data.
    func testTheRequestNotItsLanguageDecides() {
        let cases: [(String, TaskType)] = [
            ("Necesito una función en JavaScript que valide si un correo electrónico tiene un formato correcto.", .code),
            ("¿Cómo arreglo este error de Python? TypeError: 'NoneType' object is not subscriptable", .code),
            ("Schreib mir bitte ein Python-Skript, das alle PDF-Dateien in einem Ordner umbenennt.", .code),
            ("Übersetze diesen Absatz bitte ins Englische: Der Vertrag tritt am ersten Januar in Kraft.", .translation),
            ("Kannst du mir diesen Satz auf Spanisch übersetzen? Ich komme morgen etwas später.", .translation),
            ("Traduce al francés: la reunión empieza a las diez.", .translation),
            ("Translate into German: the invoice is attached to this email.", .translation),
        ]
        for (text, task) in cases {
            let result = classifier.classify([ChatMessage(role: "user", content: text)])
            XCTAssertEqual(result.task, task, text)
        }
    }

    func testConfidenceAndDifficultyAreProbabilities() throws {
        for prompt in try LabeledPrompts.publicSet() {
            let result = classifier.classify(prompt.messages)
            XCTAssertGreaterThan(result.confidence, 0.1 - 1e-6)  // at least uniform over 10 classes
            XCTAssertLessThanOrEqual(result.confidence, 1)
            XCTAssertGreaterThan(result.difficultyScore, 0)
            XCTAssertLessThan(result.difficultyScore, 1)
            XCTAssertEqual(result.scores[10], result.difficultyScore)
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

    private func report(
        _ name: String,
        _ prompts: [LabeledPrompt]
    ) -> (accuracy: Double, macroF1: Double, recalls: [(TaskType, Double)], baseline: Double) {
        var predicted: [TaskType] = []
        var baseline: [TaskType] = []
        for prompt in prompts {
            predicted.append(classifier.classify(prompt.messages).task)
            baseline.append(KeywordBaseline.classify(prompt.messages))
        }
        let truth = prompts.map(\.task)
        let accuracy = share(zip(truth, predicted).filter { $0 == $1 }.count, of: prompts.count)
        let baselineAccuracy = share(zip(truth, baseline).filter { $0 == $1 }.count, of: prompts.count)
        var f1s: [Double] = []
        var recalls: [(TaskType, Double)] = []
        var lines = ["  task            classifier P/R    baseline P/R     n"]
        for task in TaskType.allCases {
            let count = truth.filter { $0 == task }.count
            let (precision, recall) = precisionRecall(task, truth: truth, predicted: predicted)
            let (basePrecision, baseRecall) = precisionRecall(task, truth: truth, predicted: baseline)
            let padded = task.rawValue.padding(toLength: 15, withPad: " ", startingAt: 0)
            lines.append("  \(padded) \(format(precision)) / \(format(recall))    \(format(basePrecision)) / \(format(baseRecall))   \(count)")
            if count > 0 {
                recalls.append((task, recall))
                f1s.append(precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0)
            }
        }
        let macroF1 = f1s.reduce(0, +) / Double(max(1, f1s.count))
        lines.insert(
            "\(name): \(prompts.count) prompts; classifier accuracy \(format(accuracy)), macro-F1 \(format(macroF1)); "
                + "keyword baseline \(format(baselineAccuracy))",
            at: 0
        )
        print(lines.joined(separator: "\n"))
        return (accuracy, macroF1, recalls, baselineAccuracy)
    }

    private func precisionRecall(_ task: TaskType, truth: [TaskType], predicted: [TaskType]) -> (Double, Double) {
        let truePositives = zip(truth, predicted).filter { $0 == task && $1 == task }.count
        let predictedCount = predicted.filter { $0 == task }.count
        let actualCount = truth.filter { $0 == task }.count
        return (share(truePositives, of: predictedCount), share(truePositives, of: actualCount))
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
