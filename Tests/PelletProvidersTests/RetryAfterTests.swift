import Foundation
import PelletProviders
import XCTest

final class RetryAfterTests: XCTestCase {
    /// Sun, 06 Nov 1994 08:49:37 GMT, the RFC's example date.
    static let rfcExample = Date(timeIntervalSince1970: 784_111_777)

    func testDelaySeconds() {
        XCTAssertEqual(RetryAfter.parse("120"), .seconds(120))
        XCTAssertEqual(RetryAfter.parse(" 0 "), .zero)
        XCTAssertEqual(RetryAfter.parse("1.5"), .milliseconds(1500))
        XCTAssertEqual(RetryAfter.parse("9999999"), .seconds(86_400), "capped at a day")
    }

    func testTheThreeHTTPDateForms() {
        let now = Self.rfcExample - 30
        XCTAssertEqual(RetryAfter.parse("Sun, 06 Nov 1994 08:49:37 GMT", now: now), .seconds(30))
        XCTAssertEqual(RetryAfter.parse("Sunday, 06-Nov-94 08:49:37 GMT", now: now), .seconds(30))
        XCTAssertEqual(RetryAfter.parse("Sun Nov  6 08:49:37 1994", now: now), .seconds(30))
    }

    func testDatesAcrossMonthsAndLeapYears() {
        // 2024-02-29 12:00:00 UTC = 1709208000.
        let now = Date(timeIntervalSince1970: 1_709_208_000)
        XCTAssertEqual(RetryAfter.parse("Thu, 29 Feb 2024 12:00:05 GMT", now: now), .seconds(5))
        XCTAssertEqual(RetryAfter.parse("Fri, 01 Mar 2024 12:00:00 GMT", now: now), .seconds(86_400))
    }

    func testADateInThePastIsNoDelay() {
        XCTAssertEqual(RetryAfter.parse("Sun, 06 Nov 1994 08:49:37 GMT", now: Self.rfcExample + 100), .zero)
    }

    func testGarbageIsNil() {
        for value in [
            "", "soon", "-5", "1e3", "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 PST", "Sun, 32 Nov 1994 08:49:37 GMT",
        ] {
            XCTAssertNil(RetryAfter.parse(value, now: Self.rfcExample), value)
        }
    }

    func testHeadersPreferMilliseconds() {
        XCTAssertEqual(RetryAfter.delay(in: [("retry-after", "2"), ("retry-after-ms", "250")]), .milliseconds(250))
        XCTAssertEqual(RetryAfter.delay(in: [("Retry-After", "2")]), .seconds(2))
        XCTAssertEqual(RetryAfter.delay(in: [("retry-after-ms", "x"), ("retry-after", "2")]), .seconds(2))
        XCTAssertNil(RetryAfter.delay(in: [("x-ratelimit-reset", "2")]))
    }
}
