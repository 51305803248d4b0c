import XCTest
import PelletWire

@testable import PelletRouter

/// The router reads the catalogue through `RoutingTable`, built once per catalogue: it must say
/// exactly what the models say, in the same order (the order candidates are built in).
final class RoutingTableTests: XCTestCase {
    func testTheTableMatchesTheCatalogue() throws {
        let catalogue = Catalogue.bundled
        let table = catalogue.routingTable
        XCTAssertEqual(table.modelIDs, catalogue.models.map(\.id))
        XCTAssertEqual(table.offerRanges.count, catalogue.models.count)
        var expectedStart = 0
        for (modelIndex, model) in catalogue.models.enumerated() {
            let range = table.offerRanges[modelIndex]
            XCTAssertEqual(range.lowerBound, expectedStart, model.id)
            XCTAssertEqual(range.count, model.offers.count, model.id)
            expectedStart = range.upperBound
            for (offer, row) in zip(model.offers, table.offers[range]) {
                XCTAssertEqual(row.modelIndex, modelIndex)
                XCTAssertEqual(row.nameRank, catalogue.nameRank[modelIndex])
                XCTAssertEqual(table.providers[row.provider], offer.provider)
                XCTAssertEqual(row.contextWindow, offer.contextWindow ?? model.contextWindow)
                XCTAssertGreaterThanOrEqual(row.contextWindow, model.contextWindow)
                XCTAssertEqual(row.reasoning, model.reasoning)
                XCTAssertEqual(row.inputMicroUSDPerMillionTokens, offer.inputMicroUSDPerMillionTokens)
                XCTAssertEqual(row.outputMicroUSDPerMillionTokens, offer.outputMicroUSDPerMillionTokens)
                XCTAssertEqual(row.timeToFirstTokenMs, offer.timeToFirstTokenMs)
                XCTAssertEqual(row.outputTokensPerSecond, offer.outputTokensPerSecond)
            }
            for task in TaskType.allCases {
                XCTAssertEqual(
                    table.score(ofModel: modelIndex, for: task),
                    model.quality(for: task).score,
                    "\(model.id) \(task)"
                )
            }
        }
        XCTAssertEqual(expectedStart, table.offers.count)
    }

    func testPerProviderKeepsOneValuePerProvider() {
        // Past the four kept inline too: a catalogue may define further providers.
        for count in [3, 4, 6] {
            var values = PerProvider(count: count, repeating: 0)
            for provider in 0..<count { values[provider] = provider + 1 }
            XCTAssertEqual((0..<count).map { values[$0] }, Array(1...count))
        }
        XCTAssertEqual(Catalogue.bundled.routingTable.providers, [.fireworks, .groq, .together])
    }
}
