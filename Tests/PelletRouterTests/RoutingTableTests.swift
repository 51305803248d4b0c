import XCTest

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
                XCTAssertEqual(row.provider, offer.provider)
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
        var values = PerProvider(repeating: 0)
        for (position, provider) in ProviderName.allCases.enumerated() { values[provider] = position + 1 }
        XCTAssertEqual(ProviderName.allCases.map { values[$0] }, [1, 2, 3])
    }
}
