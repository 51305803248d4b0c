import Foundation
@testable import PelletStore
import PelletWire
import XCTest

/// The store reports that it cannot take writes from the first write that fails for a reason of
/// its own (the map is full), and only a probe write that finds room ends the refusal.
final class WriteHealthTests: XCTestCase {
    func testAFullMapRefusesWritesAndAProbeWithoutRoomKeepsRefusing() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try Store(configuration: StoreConfiguration(dataDirectory: directory, mapSizeBytes: 1 << 20))
        defer { store.close() }
        let metering = try await store.openMetering()
        XCTAssertNil(store.writeRefusal)

        let account = try await store.createAccount(Account(name: "Filler", email: "filler@example.com"))
        let now = store.configuration.now()
        var batch = 400
        var next = 0
        while batch >= 1 {
            let events = (0..<batch).map { MeteringEvent.sample("req_\(next + $0)", account: account.id, at: now) }
            do {
                try await metering.record(contentsOf: events)
                next += batch
            } catch let error as StoreError where error.kind == .mapFull {
                batch /= 4
            }
        }
        let refusal = try XCTUnwrap(store.writeRefusal, "a full map did not refuse writes")
        XCTAssertEqual(refusal.kind, .mapFull)
        XCTAssertTrue(refusal.message.contains("--map-size"), refusal.message)

        // Still full: the probe finds no room for real traffic, and the refusal stays.
        store.probeWritesIfRefusing()
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertNotNil(store.writeRefusal)
    }

    /// A store-wide failure that passes (here a disk error, injected) ends at the first probe,
    /// which finds room: the probe, not any small write that happens to fit, decides.
    func testAProbeThatFindsRoomEndsTheRefusal() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try Store(configuration: StoreConfiguration(dataDirectory: directory, mapSizeBytes: 64 << 20))
        defer { store.close() }
        store.writer.health.recordFailure(StoreError(code: EIO, context: "cannot commit"))
        XCTAssertEqual(store.writeRefusal?.kind, .io)
        // An unrelated write succeeds, and the store still refuses until its probe.
        _ = try await store.createAccount(Account(name: "Other", email: "other@example.com"))
        XCTAssertNotNil(store.writeRefusal)
        store.probeWritesIfRefusing()
        let deadline = ContinuousClock.now + .seconds(5)
        while store.writeRefusal != nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTAssertNil(store.writeRefusal, "a probe with room did not end the refusal")
        // Failures of one write's content never make the store refuse.
        XCTAssertFalse(store.writer.health.recordFailure(StoreError.notFound("no account has id x")))
        XCTAssertNil(store.writeRefusal)
    }
}
