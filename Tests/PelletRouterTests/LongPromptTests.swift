import PelletRouter
import PelletWire
import XCTest

/// Routing runs on the event loop, so a prompt of megabytes must not make it walk megabytes:
/// the classifier and the token estimator read a message's first and last 16 KiB only.
final class LongPromptTests: XCTestCase {
    private let head = String(repeating: "Solve for x: 3x + 7 = 22, then check the answer. ", count: 400)
    private let tail = String(repeating: "Show each step of the algebra. ", count: 600) + "What is x?"
    private let code = String(repeating: "def f(items):\n    return sorted(items, key=lambda x: -x)\n", count: 180_000)
    private let prose = String(repeating: "The old harbour town woke slowly under a grey sky. ", count: 200_000)

    func testTheMiddleOfATenMegabytePromptIsNeverRead() {
        let classifier = TaskClassifier()
        func scores(_ middle: String) -> SIMD16<Float> {
            classifier.classify([ChatMessage(role: "user", content: head + middle + tail)]).scores
        }
        XCTAssertGreaterThan((head + code + tail).utf8.count, 10_000_000)
        let withCode = scores(code)
        XCTAssertEqual(scores(prose), withCode, "a different middle changed the scores")
        XCTAssertEqual(scores(String(code.prefix(100_000))), withCode, "a shorter middle changed the scores")
        // What the middle holds would change the verdict if it were read.
        XCTAssertNotEqual(
            classifier.classify([ChatMessage(role: "user", content: String(code.prefix(30_000)))]).task,
            classifier.classify([ChatMessage(role: "user", content: String(prose.prefix(30_000)))]).task
        )
    }

    func testALongPromptsTokenEstimateScalesWithItsLength() {
        let unit = "The old harbour town woke slowly under a grey sky. "
        let perUnit = Double(TokenEstimator.estimate(content: String(repeating: unit, count: 100))) / 100
        let long = TokenEstimator.estimate(content: prose)
        XCTAssertEqual(Double(long), perUnit * 200_000, accuracy: perUnit * 200_000 * 0.01)
        // Only the edges and the length are read: the same for any middle of the same size.
        let middle = String(repeating: "z", count: prose.utf8.count - 2 * 16_384)
        let sameEdges = String(prose.prefix(16_384)) + middle + String(prose.suffix(16_384))
        XCTAssertEqual(TokenEstimator.estimate(content: sameEdges), long)
    }
}
