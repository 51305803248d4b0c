import Foundation
import PelletStore
import PelletTesting
import PelletWire
import XCTest

/// Cluster mode's metering outbox: each event recorded enters it in the same transaction, in
/// the order of recording, once; removing the shipped ones is the position, kept across a
/// restart.
final class MeteringOutboxTests: StoreTestCase {
    func testRecordedEventsWaitInOrderOnceAndRemovingTheShippedOnesSurvivesARestart() async throws {
        var store = try openStore()
        var metering = try await store.openMetering(outbox: true)
        XCTAssertTrue(metering.hasOutbox)
        let account = try await makeAccount(store)
        var events = (0..<5).map { meteringEvent("req-\($0)", account: account.id, at: testEpoch + UInt64($0), cost: 10 + UInt64($0)) }
        events[2].cachedPromptTokens = 4
        events[3].tokensEstimated = true
        events[4].timeToFirstTokenMs = 33
        for event in events { try await metering.record(event) }
        // A duplicate records nothing, so it does not enter the outbox again.
        try await metering.record(events[1])
        XCTAssertEqual(try metering.outboxDepth(), 5)
        let all = try metering.outboxBatch(limit: 100)
        XCTAssertEqual(all.map(\.event), events)
        XCTAssertEqual(all.map(\.sequence), [1, 2, 3, 4, 5])
        XCTAssertEqual(try metering.outboxBatch(limit: 2).map(\.event), Array(events[..<2]))

        let removed = try await metering.removeFromOutbox(through: 3)
        XCTAssertEqual(removed, 3)
        XCTAssertEqual(try metering.outboxBatch(limit: 100).map(\.event), Array(events[3...]))

        // After a restart the outbox resumes where it was, and numbering goes on after its last.
        store.close()
        store = try openStore()
        metering = try await store.openMetering(outbox: true)
        XCTAssertEqual(try metering.outboxDepth(), 2)
        let later = meteringEvent("req-later", account: account.id, at: testEpoch + 100)
        try await metering.record(later)
        XCTAssertEqual(try metering.outboxBatch(limit: 100).map(\.sequence), [4, 5, 6])
        let removedAfterRestart = try await metering.removeFromOutbox(through: 6)
        XCTAssertEqual(removedAfterRestart, 3)
        XCTAssertEqual(try metering.outboxDepth(), 0)
    }

    func testANodeThatWorksAloneHasNoOutbox() async throws {
        let store = try openStore()
        let metering = try await store.openMetering()
        let account = try await makeAccount(store)
        try await metering.record(meteringEvent("req-alone", account: account.id))
        XCTAssertFalse(metering.hasOutbox)
        XCTAssertEqual(try metering.outboxDepth(), 0)
        XCTAssertEqual(try metering.outboxBatch(limit: 10), [])
    }
}
