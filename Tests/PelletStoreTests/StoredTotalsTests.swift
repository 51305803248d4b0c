import PelletWire
import XCTest

@testable import PelletStore

/// The counters' fixed binary layout: version 2 appends cached_prompt_tokens, and records written
/// by version 1 (before it) still read, with 0 cached tokens.
final class StoredTotalsTests: XCTestCase {
    func testVersionTwoRoundTripsEveryCount() throws {
        let totals = UsageTotals(
            requests: 1, promptTokens: 2, completionTokens: 3, costMicroUsd: 4, errors: 5, latencyMsSum: 6,
            cachedPromptTokens: 7)
        let bytes = StoredTotals.encode(totals)
        XCTAssertEqual(bytes.count, 57)
        XCTAssertEqual(bytes[0], 2)
        XCTAssertEqual(try bytes.withUnsafeBytes { try StoredTotals.decode($0, table: "t") }, totals)
    }

    func testAVersionOneRecordStillReads() throws {
        // What version 1 wrote: the version byte and six big-endian counts.
        var bytes: [UInt8] = [1]
        for count: UInt64 in [10, 20, 30, 40, 1, 500] {
            bytes += withUnsafeBytes(of: count.bigEndian, Array.init)
        }
        let totals = try bytes.withUnsafeBytes { try StoredTotals.decode($0, table: "t") }
        XCTAssertEqual(
            totals,
            UsageTotals(
                requests: 10, promptTokens: 20, completionTokens: 30, costMicroUsd: 40, errors: 1, latencyMsSum: 500))
        // A version 2 record cut short is refused, not read past its end.
        var short = bytes
        short[0] = 2
        XCTAssertThrowsError(try short.withUnsafeBytes { try StoredTotals.decode($0, table: "t") })
    }
}
