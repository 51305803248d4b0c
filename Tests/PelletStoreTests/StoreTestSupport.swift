import Foundation
import PelletStore
import PelletWire
import XCTest

/// A fresh directory under the system temp dir, removed by `tearDown`.
func makeTemporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "pellet-store-tests-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The fixed time the tests' clock starts at (unix ms).
let testEpoch: UInt64 = 1_700_000_000_000

/// A clock the tests move by hand.
final class TestClock: Sendable {
    private let milliseconds = LockedValue(testEpoch)

    var now: UInt64 { milliseconds.value }

    func advance(by delta: UInt64) {
        milliseconds.update { $0 += delta }
    }
}

/// A value behind a lock, for test state touched from several tasks.
final class LockedValue<Value: Sendable>: @unchecked Sendable {
    // @unchecked: every access goes through `lock`.
    private let lock = NSLock()
    private var stored: Value

    init(_ value: Value) { stored = value }

    var value: Value {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }

    func update(_ body: (inout Value) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        body(&stored)
    }
}

/// Base class: opens a store in a temporary directory and closes and removes it afterwards.
class StoreTestCase: XCTestCase {
    var directory = ""
    var clock = TestClock()
    private var openStores: [Store] = []

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory()
        clock = TestClock()
    }

    override func tearDownWithError() throws {
        openStores.forEach { $0.close() }
        openStores = []
        try? FileManager.default.removeItem(atPath: directory)
    }

    func configuration(
        mapSizeBytes: Int = 64 << 20,
        durability: StoreConfiguration.Durability = .full
    ) -> StoreConfiguration {
        let clock = self.clock
        return StoreConfiguration(
            dataDirectory: directory,
            mapSizeBytes: mapSizeBytes,
            durability: durability,
            batchedFlushInterval: .milliseconds(10),
            now: { clock.now }
        )
    }

    func openStore(_ configuration: StoreConfiguration? = nil) throws -> Store {
        let store = try Store(configuration: configuration ?? self.configuration())
        openStores.append(store)
        return store
    }

    func makeAccount(
        _ store: Store,
        email: String = "ada@example.com",
        name: String = "Ada Lovelace"
    ) async throws -> Account {
        try await store.createAccount(Account(name: name, email: email))
    }
}

/// Asserts that `body` throws a ``StoreError`` of `kind`; returns its message.
@discardableResult
func assertStoreError<Result>(
    _ kind: StoreError.Kind,
    file: StaticString = #filePath,
    line: UInt = #line,
    _ body: () async throws -> Result
) async -> String? {
    do {
        _ = try await body()
        XCTFail("expected a \(kind) error, got success", file: file, line: line)
    } catch let error as StoreError {
        XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line)
        return error.message
    } catch {
        XCTFail("expected a StoreError, got \(error)", file: file, line: line)
    }
    return nil
}
