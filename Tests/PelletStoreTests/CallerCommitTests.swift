import Foundation
import PelletStore
import PelletTesting
import PelletWire
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Metering's write on the calling thread: in `.batched` durability an event recorded while the
/// writer thread is idle is committed by the caller (its completion runs before `settle`
/// returns), a busy writer takes it into its group commit instead, as it does for a caller that
/// does not ask to commit (`commitHere: false`) and for every event in `.full` durability, and
/// compaction and closing wait for commits made on callers' threads.
final class CallerCommitTests: StoreTestCase {
    /// Where a settlement's completion ran, and what it was told.
    private struct Settled: Sendable {
        var onCallingThread: Bool
        var result: Result<Void, any Error>
    }

    /// Settles a fresh reservation for `event` from the current thread; `box` is set when the
    /// completion runs, with whether it ran on this thread.
    private func settleNow(
        _ metering: Metering, _ event: MeteringEvent, commitHere: Bool = true, into box: LockedValue<Settled?>
    ) throws {
        let reservation = try metering.reserve(accountID: event.accountID, budgetMicroUSD: 0, estimateMicroUSD: 1_000)
        let caller = pthread_self()
        metering.settle(reservation, recording: event, commitHere: commitHere) { result in
            let here = pthread_equal(pthread_self(), caller) != 0
            box.update { $0 = Settled(onCallingThread: here, result: result) }
        }
    }

    private struct NeverSettled: Error {}

    private func waitForSettlement(_ box: LockedValue<Settled?>) async throws -> Settled {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let settled = box.value { return settled }
            try await Task.sleep(for: .milliseconds(1))
        }
        throw NeverSettled()
    }

    /// Settles `event` from the current thread and waits for its completion.
    private func settle(_ metering: Metering, _ event: MeteringEvent, commitHere: Bool = true) async throws -> Settled {
        let box = LockedValue<Settled?>(nil)
        try settleNow(metering, event, commitHere: commitHere, into: box)
        return try await waitForSettlement(box)
    }

    /// A store of `durability`, its metering, and an account to meter.
    private func openMeteredAccount(
        durability: StoreConfiguration.Durability
    ) async throws -> (Store, Metering, Account) {
        let store = try openStore(configuration(durability: durability))
        let metering = try await openMetering(store)
        return (store, metering, try await makeAccount(store))
    }

    private func requestRecordCount(_ metering: Metering, accountID: String) throws -> UInt64 {
        try metering.monthlyTotals(accountID: accountID).reduce(0) { $0 + $1.totals.requests }
    }

    /// Settles events (`prefix`0, `prefix`1, ...) until one finds the writer idle and is
    /// committed on this thread; the writer marks itself idle just after completing its last
    /// batch, so the first may still go to it. Returns that one's outcome and how many were
    /// settled in all.
    private func settleOnTheCallingThread(
        _ metering: Metering, _ store: Store, accountID: String, prefix: String
    ) async throws -> (Settled, requestID: String, settled: Int) {
        for attempt in 0..<100 {
            try await Task.sleep(for: .milliseconds(attempt == 0 ? 5 : 20))
            let commitsBefore = store.commitCount
            let box = LockedValue<Settled?>(nil)
            try settleNow(metering, meteringEvent("\(prefix)\(attempt)", account: accountID), into: box)
            if let settled = box.value, settled.onCallingThread {
                if case .success = settled.result {
                    XCTAssertEqual(store.commitCount - commitsBefore, 1, "one commit, of its own")
                }
                return (settled, "\(prefix)\(attempt)", attempt + 1)
            }
            _ = try await waitForSettlement(box)
        }
        throw NeverSettled()
    }

    func testAnIdleWriterLetsTheCallerCommitInBatchedDurability() async throws {
        let (store, metering, account) = try await openMeteredAccount(durability: .batched)

        let (settled, requestID, count) = try await settleOnTheCallingThread(
            metering, store, accountID: account.id, prefix: "req_here_")
        XCTAssertNoThrow(try settled.result.get())
        XCTAssertEqual(try requestRecordCount(metering, accountID: account.id), UInt64(count))
        let spent = try metering.budgetStanding(accountID: account.id).spentMicroUSD
        XCTAssertEqual(spent, 100 * UInt64(count))

        // A duplicate changes nothing and is not charged twice.
        let duplicate = try await settle(metering, meteringEvent(requestID, account: account.id))
        XCTAssertNoThrow(try duplicate.result.get())
        XCTAssertEqual(try requestRecordCount(metering, accountID: account.id), UInt64(count))
        XCTAssertEqual(try metering.budgetStanding(accountID: account.id).spentMicroUSD, spent)

        // The periodic sync still covers it: a sync follows within the interval.
        let syncsBefore = store.timedSyncCount
        try settleNow(metering, meteringEvent("req_synced", account: account.id), into: LockedValue(nil))
        let deadline = ContinuousClock.now + .seconds(5)
        while store.timedSyncCount == syncsBefore, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(2))
        }
        XCTAssertGreaterThan(store.timedSyncCount, syncsBefore)
    }

    func testAFailedCallerCommitIsNotAnsweredOK() async throws {
        let (store, metering, account) = try await openMeteredAccount(durability: .batched)
        try await store.deleteAccount(id: account.id)

        let (settled, _, _) = try await settleOnTheCallingThread(
            metering, store, accountID: account.id, prefix: "req_orphan_")
        XCTAssertThrowsError(try settled.result.get()) { error in
            XCTAssertEqual((error as? StoreError)?.kind, .notFound)
        }
        XCTAssertNil(store.writeRefusal, "a refused event says nothing about the store")
    }

    func testABusyWriterTakesTheWriteIntoItsGroupCommit() async throws {
        let (store, metering, account) = try await openMeteredAccount(durability: .batched)
        // Occupies the writer thread, so the settlement below finds it busy.
        let holder = Task { try await store.write { _ in _ = usleep(150_000) } }
        try await Task.sleep(for: .milliseconds(30))

        let box = LockedValue<Settled?>(nil)
        try settleNow(metering, meteringEvent("req_queued", account: account.id), into: box)
        XCTAssertNil(box.value, "queued behind the busy writer, not committed by the caller")
        try await holder.value
        let settled = try await waitForSettlement(box)
        XCTAssertFalse(settled.onCallingThread)
        XCTAssertNoThrow(try settled.result.get())
        XCTAssertEqual(try requestRecordCount(metering, accountID: account.id), 1)
    }

    func testACallerThatDoesNotAskToCommitHereLeavesItToTheWriter() async throws {
        let (_, metering, account) = try await openMeteredAccount(durability: .batched)
        for index in 0..<5 {
            try await Task.sleep(for: .milliseconds(5))
            let event = meteringEvent("req_away_\(index)", account: account.id)
            let settled = try await settle(metering, event, commitHere: false)
            XCTAssertFalse(settled.onCallingThread)
            XCTAssertNoThrow(try settled.result.get())
        }
        XCTAssertEqual(try requestRecordCount(metering, accountID: account.id), 5)
    }

    func testFullDurabilityLeavesEveryCommitToTheWriter() async throws {
        let (_, metering, account) = try await openMeteredAccount(durability: .full)
        for index in 0..<5 {
            let settled = try await settle(metering, meteringEvent("req_full_\(index)", account: account.id))
            XCTAssertFalse(settled.onCallingThread, "the fsync is the writer's, shared by its group")
            XCTAssertNoThrow(try settled.result.get())
        }
        XCTAssertEqual(try requestRecordCount(metering, accountID: account.id), 5)
    }

    /// Threads that block as event loops do settle calls one after another, through a
    /// compaction and then the store's closing: every acknowledged event is in the reopened
    /// store, nothing is acknowledged after the close, and no commit ran during the swap.
    func testCompactionAndCloseWaitForCommitsOnCallersThreads() async throws {
        let (store, metering, account) = try await openMeteredAccount(durability: .batched)
        let acknowledged = LockedValue(Set<String>())
        let refusals = LockedValue([String]())
        let onCaller = LockedValue(0)
        let finished = DispatchGroup()
        for lane in 0..<3 {
            finished.enter()
            Thread.detachNewThread {
                defer { finished.leave() }
                var index = 0
                while true {
                    let requestID = "req_\(lane)_\(index)"
                    index += 1
                    let done = DispatchSemaphore(value: 0)
                    let caller = pthread_self()
                    let outcome = LockedValue<Result<Void, any Error>?>(nil)
                    do {
                        let reservation = try metering.reserve(
                            accountID: account.id, budgetMicroUSD: 0, estimateMicroUSD: 1_000)
                        metering.settle(reservation, recording: meteringEvent(requestID, account: account.id)) {
                            result in
                            if pthread_equal(pthread_self(), caller) != 0 { onCaller.update { $0 += 1 } }
                            outcome.update { $0 = result }
                            done.signal()
                        }
                    } catch {
                        refusals.update { $0.append("\(error)") }
                        return
                    }
                    done.wait()
                    switch outcome.value {
                    case .success?: acknowledged.update { _ = $0.insert(requestID) }
                    case .failure(let error)?:
                        refusals.update { $0.append("\(error)") }
                        return
                    case nil: return
                    }
                }
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        _ = try await store.compact()
        let afterCompaction = acknowledged.value.count
        try await Task.sleep(for: .milliseconds(50))
        XCTAssertGreaterThan(acknowledged.value.count, afterCompaction, "writes go on after the swap")
        store.close()
        finished.wait()

        XCTAssertGreaterThan(onCaller.value, 0, "some events were committed on the callers' threads")
        XCTAssertEqual(refusals.value.count, 3, "each lane ends on the closed store: \(refusals.value)")
        let reopened = try openStore(configuration(durability: .batched))
        let meteringAgain = try await openMetering(reopened)
        let query = try meteringAgain.monthlyTotals(accountID: account.id)
        XCTAssertEqual(query.reduce(0) { $0 + $1.totals.requests }, UInt64(acknowledged.value.count))
        var stored = Set<String>()
        var cursor = ""
        repeat {
            let page = try meteringAgain.usage(accountID: account.id, listRequests: true, cursor: cursor, limit: 1_000)
            stored.formUnion(page.requests.map(\.requestId))
            cursor = page.nextCursor
        } while !cursor.isEmpty
        XCTAssertTrue(acknowledged.value.isSubset(of: stored), "\(acknowledged.value.subtracting(stored).count) lost")
    }
}
