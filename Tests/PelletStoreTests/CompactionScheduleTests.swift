import Foundation
import Logging
import PelletStore
import PelletWire
import XCTest

/// Automatic compaction starts at most once per interval, and never later than one interval
/// after the deletion it erases.
final class CompactionScheduleTests: XCTestCase {
    private let hour: UInt64 = 3_600_000
    private let start: UInt64 = 1_700_000_000_000

    func testADeletionCompactsAtOnceOrWhenTheWindowEnds() {
        var schedule = CompactionSchedule(interval: .seconds(24 * 3_600))
        XCTAssertEqual(schedule.deletion(at: start), start, "the first deletion compacts at once")
        XCTAssertNil(schedule.deletion(at: start), "one already due covers the next")
        schedule.started(at: start)

        XCTAssertEqual(schedule.deletion(at: start + hour), start + 24 * hour, "within the window: at its end")
        XCTAssertNil(schedule.deletion(at: start + 2 * hour))
        XCTAssertNil(schedule.deletion(at: start + 23 * hour))
        schedule.started(at: start + 24 * hour)

        XCTAssertEqual(schedule.deletion(at: start + 60 * hour), start + 60 * hour, "a quiet day later: at once")
        schedule.started(at: start + 60 * hour)
        // A deletion during a compaction's run may miss its copy: it gets the next window.
        XCTAssertEqual(schedule.deletion(at: start + 60 * hour), start + 84 * hour)
    }

    func testEveryDeletionIsErasedWithinOneIntervalAndCompactionsAreADayApart() {
        var schedule = CompactionSchedule(interval: .seconds(24 * 3_600))
        var generator = SystemRandomNumberGenerator()
        var pending: [UInt64] = []
        var starts: [UInt64] = []
        var now = start
        for _ in 0..<2_000 {
            now += UInt64.random(in: 0...(3 * hour), using: &generator)
            if let due = schedule.due, due <= now {
                schedule.started(at: due)
                starts.append(due)
                for deletion in pending { XCTAssertLessThanOrEqual(due - deletion, 24 * hour) }
                pending = []
            }
            _ = schedule.deletion(at: now)
            pending.append(now)
        }
        XCTAssertGreaterThan(starts.count, 10)
        for (earlier, later) in zip(starts, starts.dropFirst()) {
            XCTAssertGreaterThanOrEqual(later - earlier, 24 * hour, "at most one compaction a day")
        }
    }

    /// The scheduler itself with an injected clock: its sleep moves the clock instead of waiting.
    func testTheSchedulerCompactsOnceADayWithAnInjectedClock() async throws {
        let clock = LockedValue(start)
        let sleeps = LockedValue([UInt64]())
        let compactions = LockedValue([UInt64]())
        let scheduler = CompactionScheduler(
            interval: .seconds(24 * 3_600),
            now: { clock.value },
            sleep: { duration in
                let milliseconds = UInt64(duration.components.seconds) * 1_000
                sleeps.update { $0.append(milliseconds) }
                clock.update { $0 += milliseconds }
            },
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            compact: {
                compactions.update { $0.append(clock.value) }
                return CompactionReport(bytesBefore: 2, bytesAfter: 1)
            }
        )
        scheduler.deletionHappened()
        await scheduler.waitUntilIdle()
        XCTAssertEqual(compactions.value, [start], "at once")
        XCTAssertEqual(sleeps.value, [])

        clock.update { $0 += hour }
        scheduler.deletionHappened()
        await scheduler.waitUntilIdle()
        XCTAssertEqual(sleeps.value, [23 * hour], "the rest of the window")
        XCTAssertEqual(compactions.value, [start, start + 24 * hour])

        await scheduler.stop()
        scheduler.deletionHappened()
        await scheduler.waitUntilIdle()
        XCTAssertEqual(compactions.value.count, 2, "nothing after stop")
    }

    func testStoppingRunsTheCompactionThatIsWaitingForItsTime() async throws {
        let clock = LockedValue(start)
        let compactions = LockedValue(0)
        let scheduler = CompactionScheduler(
            interval: .seconds(24 * 3_600),
            now: { clock.value },
            sleep: { duration in try await Task.sleep(for: duration) },  // an hour: only cancellation ends it
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            compact: {
                compactions.update { $0 += 1 }
                return CompactionReport()
            }
        )
        scheduler.deletionHappened()
        await scheduler.waitUntilIdle()
        clock.update { $0 += 23 * hour }
        scheduler.deletionHappened()
        XCTAssertEqual(scheduler.schedule.due, start + 24 * hour)
        XCTAssertEqual(compactions.value, 1)
        await scheduler.stop()
        XCTAssertEqual(compactions.value, 2, "the pending compaction ran at stop rather than being dropped")
        XCTAssertNil(scheduler.schedule.due)
    }
}
