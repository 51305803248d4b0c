import XCTest

extension XCTestCase {
    /// Polls `condition` every 5 ms until it holds; fails the test if it does not within `timeout`.
    func waitUntil(_ condition: @autoclosure () -> Bool, timeout: Duration = .seconds(5)) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { return XCTFail("condition not met within \(timeout)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
