import PelletLoadKit
import XCTest

/// The open loop's send times, driven without a clock.
final class OpenLoopScheduleTests: XCTestCase {
    private let start: UInt64 = 5_000_000_000

    func testTheIthSendTimeIsFixedByTheRate() {
        let schedule = OpenLoopSchedule(start: start, rate: 1_000)
        XCTAssertEqual(schedule.sendTime(ofRequest: 0), start)
        XCTAssertEqual(schedule.sendTime(ofRequest: 1), start + 1_000_000)
        XCTAssertEqual(schedule.sendTime(ofRequest: 2_500), start + 2_500_000_000)
        XCTAssertEqual(schedule.intervalNanoseconds, 1_000_000)
    }

    func testAnIntervalThatIsNotWholeNanosecondsDoesNotDrift() {
        let schedule = OpenLoopSchedule(start: start, rate: 3)
        XCTAssertEqual(schedule.sendTime(ofRequest: 1), start + 333_333_333)
        XCTAssertEqual(schedule.sendTime(ofRequest: 2), start + 666_666_667)
        XCTAssertEqual(schedule.sendTime(ofRequest: 3), start + 1_000_000_000)
        XCTAssertEqual(schedule.sendTime(ofRequest: 3_000_000), start + 1_000_000 * 1_000_000_000)
    }

    func testRequestsAreDealtToConnectionsInTurn() {
        let schedule = OpenLoopSchedule(start: start, rate: 100, connections: 4)
        XCTAssertEqual(schedule.requestIndex(connection: 0, ordinal: 0), 0)
        XCTAssertEqual(schedule.requestIndex(connection: 1, ordinal: 2), 9)
        XCTAssertEqual(schedule.sendTime(connection: 1, ordinal: 2), start + 90_000_000)
        XCTAssertEqual(schedule.sendTime(connection: 3, ordinal: 0), start + 30_000_000)
    }

    func testDueCounts() {
        let schedule = OpenLoopSchedule(start: start, rate: 1_000)
        XCTAssertEqual(schedule.dueCount(at: 0), 0)
        XCTAssertEqual(schedule.dueCount(at: start - 1), 0)
        XCTAssertEqual(schedule.dueCount(at: start), 1, "request 0 is due at the start")
        XCTAssertEqual(schedule.dueCount(at: start + 999_999), 1)
        XCTAssertEqual(schedule.dueCount(at: start + 1_000_000), 2)
        XCTAssertEqual(schedule.dueCount(at: start + 1_000_000_000), 1_001)
        XCTAssertEqual(schedule.count(before: start + 1_000_000_000), 1_000, "a one-second run sends rate requests")
        XCTAssertEqual(schedule.count(before: start), 0)

        // Every boundary agrees with sendTime, including where Double rounding is close.
        let odd = OpenLoopSchedule(start: start, rate: 7)
        for index in UInt64(0)..<200 {
            let time = odd.sendTime(ofRequest: index)
            XCTAssertEqual(odd.dueCount(at: time), index + 1)
            XCTAssertEqual(odd.dueCount(at: time - 1), index)
        }
    }

    func testBehindScheduleTheBacklogIsReported() {
        let schedule = OpenLoopSchedule(start: start, rate: 1_000)
        // 10 ms in: 11 requests due (0...10 ms); 4 sent, so 7 wait.
        XCTAssertEqual(schedule.backlog(at: start + 10_000_000, sent: 4), 7)
        // A server stalled for 300 ms while the generator could not send: 300 behind, then caught up.
        XCTAssertEqual(schedule.backlog(at: start + 300_000_000, sent: 1), 300)
        XCTAssertEqual(schedule.backlog(at: start + 300_000_000, sent: 301), 0)
        // Workers that took requests ahead of their time are not "behind".
        XCTAssertEqual(schedule.backlog(at: start + 10_000_000, sent: 20), 0)
        XCTAssertEqual(schedule.backlog(at: start - 1, sent: 0), 0)
    }
}
