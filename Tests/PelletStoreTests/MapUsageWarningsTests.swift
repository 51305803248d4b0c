import PelletStore
import XCTest

/// The operator hears once the map passes 80% full, then at each further 5%, and again after it
/// fell back below 80%.
final class MapUsageWarningsTests: XCTestCase {
    private func usage(_ percent: UInt64) -> MapUsage {
        MapUsage(usedBytes: percent << 20, sizeBytes: 100 << 20)
    }

    func testWarnsPastEightyPercentThenEveryFivePercent() {
        var warnings = MapUsageWarnings()
        let warned = [10, 79, 80, 81, 84, 85, 86, 90, 99, 100].map { warnings.check(usage(UInt64($0))) != nil }
        XCTAssertEqual(warned, [false, false, true, false, false, true, false, true, true, true])
        let message = warnings.check(usage(50)) ?? warnings.check(usage(83)) ?? ""
        XCTAssertTrue(message.hasPrefix("the store is 83% full (83 MiB of its 100 MiB map)"), message)
        XCTAssertTrue(message.contains("--map-size") && message.contains("--retention-days"), message)
    }

    func testAStoreBelowTheThresholdIsQuiet() {
        var warnings = MapUsageWarnings()
        XCTAssertNil(warnings.check(MapUsage(usedBytes: 0, sizeBytes: 0)))
        XCTAssertNil(warnings.check(usage(79)))
    }
}
