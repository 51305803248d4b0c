import Crypto
import Foundation
import PelletServer
import PelletStore
import PelletWire

/// The authentication path with many keys stored: SHA-256 of the key, one LMDB read
/// transaction (key record, then its account) and the decoding of both records.
enum AuthBenchmarks {
    static let names = ["auth.lookup", "auth.authenticate", "auth.touch-key"]

    /// How many account-and-key creations are in flight during the fill: enough that each group
    /// commit holds hundreds of them.
    static let fillConcurrency = 512

    static func run(
        names selected: [String],
        keyCount: Int,
        directory: String,
        runner: MicroRunner,
        progress: ProgressLog
    ) async throws -> (setup: String, results: [MicroResult]) {
        let store = try Store(configuration: StoreConfiguration(dataDirectory: directory, durability: .batched))
        defer { store.close() }

        progress.say("filling the store with \(MicroReport.grouped(keyCount)) accounts and keys…")
        let fillStart = monotonicNanoseconds()
        let fillCPUStart = processCPUNanoseconds()
        let commitsBefore = store.commitCount
        let (plaintexts, keyIDs) = try await fill(store, count: keyCount)
        let fillSeconds = Double(monotonicNanoseconds() - fillStart) / 1e9
        let fillCPUSeconds = Double(processCPUNanoseconds() - fillCPUStart) / 1e9
        let fillCommits = store.commitCount - commitsBefore
        let setup =
            "auth store: \(MicroReport.grouped(keyCount)) accounts with one key each, filled in "
            + String(format: "%.2f s (CPU %.2f s, all threads)", fillSeconds, fillCPUSeconds)
            + ": \(MicroReport.grouped(Int(Double(keyCount) / fillSeconds))) accounts+keys/s, "
            + "\(MicroReport.grouped(fillCommits)) commits for \(MicroReport.grouped(2 * keyCount)) writes; "
            + "batched durability, \(fillConcurrency) creations in flight"
        progress.say(setup)

        // Random keys in an order fixed up front, so the generator is not inside the op.
        let order = randomOrder(count: 1 << 18, below: plaintexts.count)
        let mask = order.count - 1
        var results: [MicroResult] = []
        // Each is measured as soon as it is set up: a key touched more than a minute before its
        // measurement would be written again.
        func measure(_ benchmark: MicroBenchmark) throws {
            let result = try runner.measure(benchmark)
            progress.report(result)
            results.append(result)
        }

        if selected.contains("auth.lookup") {
            var cursor = 0
            try measure(
                MicroBenchmark(
                    "auth.lookup",
                    notes:
                        "SHA-256 + Store.lookupKey(hash:) (key + account), random of "
                        + "\(MicroReport.grouped(keyCount)) keys"
                ) {
                    let plaintext = plaintexts[Int(order[cursor & mask])]
                    cursor &+= 1
                    let digest = SHA256.hash(data: Array(plaintext.utf8))
                    guard let found = try store.lookupKey(hash: digest) else {
                        throw MicroError("a stored key was not found")
                    }
                    blackHole(found)
                }
            )
        }

        if selected.contains("auth.authenticate") {
            let authenticator = Authenticator(store: store, adminToken: "pellet-load-micro")
            // One call per key first, so each key's last-use write (at most one a minute) is
            // behind us and the measured calls take the server's steady path: an in-memory check.
            for plaintext in plaintexts {
                blackHole(try authenticator.apiKeyCaller(Credentials(apiKey: plaintext)))
            }
            try await store.write { _ in }
            var cursor = 0
            try measure(
                MicroBenchmark(
                    "auth.authenticate",
                    notes:
                        "Authenticator.apiKeyCaller: lookup + checks + touchKey, random of "
                        + "\(MicroReport.grouped(keyCount)) keys"
                ) {
                    let plaintext = plaintexts[Int(order[cursor & mask])]
                    cursor &+= 1
                    blackHole(try authenticator.apiKeyCaller(Credentials(apiKey: plaintext)))
                }
            )
        }

        if selected.contains("auth.touch-key") {
            // The part of auth.authenticate that auth.lookup lacks: the once-a-minute check of
            // the key's last-use time. Every key was touched above or here already, so no call
            // queues a write.
            for keyID in keyIDs {
                store.touchKey(id: keyID)
            }
            try await store.write { _ in }
            var cursor = 0
            try measure(
                MicroBenchmark(
                    "auth.touch-key",
                    notes:
                        "Store.touchKey(id:) within the minute: clock + locked map of "
                        + "\(MicroReport.grouped(keyCount)) ids"
                ) {
                    let keyID = keyIDs[Int(order[cursor & mask])]
                    cursor &+= 1
                    blackHole(store.touchKey(id: keyID))
                }
            )
        }

        return (setup, results)
    }

    /// Creates `count` accounts with one key each, many at a time so that the writer groups
    /// them; returns the keys' plaintexts and ids.
    static func fill(_ store: Store, count: Int) async throws -> (plaintexts: [String], keyIDs: [String]) {
        try await withThrowingTaskGroup(of: (Int, String, String).self) { group in
            var plaintexts = [String](repeating: "", count: count)
            var keyIDs = [String](repeating: "", count: count)
            var next = 0
            func addCreation() {
                let index = next
                next += 1
                group.addTask {
                    let account = try await store.createAccount(
                        Account(name: "Load \(index)", email: "load-\(index)@example.com")
                    )
                    let key = try await store.createKey(accountID: account.id, name: "load")
                    return (index, key.plaintext, key.record.id)
                }
            }
            while next < min(count, fillConcurrency) { addCreation() }
            while let (index, plaintext, keyID) = try await group.next() {
                plaintexts[index] = plaintext
                keyIDs[index] = keyID
                if next < count { addCreation() }
            }
            return (plaintexts, keyIDs)
        }
    }

    /// `count` indices below `bound` from a fixed-seed SplitMix64: the same order every run.
    static func randomOrder(count: Int, below bound: Int) -> [UInt32] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        return (0..<count).map { _ in
            state &+= 0x9E37_79B9_7F4A_7C15
            var mixed = state
            mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
            mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
            mixed ^= mixed >> 31
            return UInt32(mixed % UInt64(bound))
        }
    }
}
