import Foundation
import PelletRouter
import PelletWire
import XCTest

/// The Swift classifier computes the same features and scores as the Python trainer
/// (tools/router-data/features.py): Resources/classifier-parity.json holds the trainer's scores
/// for a sample of prompts, written with the weights.
final class ClassifierParityTests: XCTestCase {
    func testScoresMatchTheTrainer() throws {
        let data = try Data(contentsOf: LabeledPrompts.resource("classifier-parity.json"))
        let fixture = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try XCTUnwrap(fixture["cases"] as? [[String: Any]])
        XCTAssertGreaterThan(cases.count, 10)
        let classifier = TaskClassifier()
        for item in cases {
            let id = item["id"] as? String ?? "?"
            let messages = (item["messages"] as? [[String: String]] ?? []).map {
                ChatMessage(role: $0["role"] ?? "", content: $0["content"] ?? "")
            }
            let expected = try XCTUnwrap(item["scores"] as? [Double])
            let scores = classifier.classify(messages).scores
            for lane in 0..<expected.count {
                // Python sums in Float64, Swift in Float32: agreement to 1e-3 of the score's size.
                let tolerance = 1e-3 * max(1, abs(expected[lane]))
                XCTAssertEqual(Double(scores[lane]), expected[lane], accuracy: tolerance, "\(id) lane \(lane)")
            }
        }
    }
}
