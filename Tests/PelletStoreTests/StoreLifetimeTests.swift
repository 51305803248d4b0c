import Foundation
import XCTest

@testable import PelletStore

final class StoreLifetimeTests: StoreTestCase {
    func testAStoreReleasedOnTheWriterThreadClosesWithoutHanging() async throws {
        weak var released: Store?
        do {
            let store = try Store(configuration: configuration())
            released = store
            // The job's closure holds the last reference, so the store is deinitialized (and
            // closed) on the writer thread when the finished batch is let go.
            store.writeDetached("hold the store") { _ in
                withExtendedLifetime(store) { _ = usleep(20_000) }
            }
        }
        let deadline = Date().addingTimeInterval(2)
        while released != nil && Date() < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        XCTAssertNil(released, "the store was never released")

        // The environment was closed: the directory opens again and holds what was written.
        // Closed by the writer thread just after the release (it cannot wait for itself), so
        // the directory's lock may still be held for a moment.
        var reopened = try? openStore()
        while reopened == nil && Date() < deadline.addingTimeInterval(2) {
            try await Task.sleep(for: .milliseconds(5))
            reopened = try? openStore()
        }
        let reopenedStore = try XCTUnwrap(reopened, "the directory stayed locked")
        XCTAssertEqual(try reopenedStore.listAccounts().accounts, [])
    }

    func testCloseCommitsWhatIsQueued() async throws {
        let store = try openStore()
        let table = try await store.openDatabase(named: "scratch")
        let writes = (0..<20).map { index in
            Task { try await store.write { try $0.put(table, key: "row-\(index)", value: "x") } }
        }
        try await Task.sleep(for: .milliseconds(5))
        store.close()
        var committed = 0
        for write in writes {
            switch await write.result {
            case .success: committed += 1
            case .failure(let error): XCTAssertEqual((error as? StoreError)?.kind, .unavailable)
            }
        }
        let reopened = try openStore()
        let table2 = try await reopened.openDatabase(named: "scratch")
        var stored = 0
        try reopened.read { transaction in
            try transaction.scan(table2, prefix: "row-") { _, _ in
                stored += 1
                return true
            }
        }
        XCTAssertEqual(stored, committed, "every acknowledged write is stored, and only those")
    }
}
