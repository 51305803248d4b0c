import Foundation
import PelletStore
import PelletWire

/// The store writer's throughput: concurrent writers, each awaiting one write at a time, so
/// every write waits for the group commit that holds it (and, in `full` durability, its fsync).
enum GroupCommitBenchmarks {
    /// What one write is.
    enum Workload: String, CaseIterable {
        /// One 64-byte put.
        case put = "store.group-commit"
        /// One Complete call's metering event: a request record and two counters, read and
        /// rewritten, as `Metering.record` does it.
        case metering = "metering.record"
    }

    static let writerCounts = [1, 16, 256]
    static let modes: [(name: String, durability: StoreConfiguration.Durability)] = [
        ("full", .full), ("batched", .batched),
    ]

    static var names: [String] {
        Workload.allCases.flatMap { workload in
            modes.flatMap { mode in writerCounts.map { name(workload, mode: mode.name, writers: $0) } }
        }
    }

    static func name(_ workload: Workload, mode: String, writers: Int) -> String {
        "\(workload.rawValue).\(mode)/\(writers)"
    }

    static func run(
        names selected: [String],
        directory: (String) throws -> String,
        duration: Duration,
        countsAllocations: Bool,
        progress: ProgressLog
    ) async throws -> [MicroResult] {
        var results: [MicroResult] = []
        for mode in modes where Workload.allCases.contains(where: { workload in
            writerCounts.contains { selected.contains(name(workload, mode: mode.name, writers: $0)) }
        }) {
            // A fresh store per mode: both start from the same empty tree.
            let store = try Store(
                configuration: StoreConfiguration(
                    dataDirectory: try directory("group-commit-\(mode.name)"),
                    durability: mode.durability
                )
            )
            defer { store.close() }
            for workload in Workload.allCases {
                let counts = writerCounts.filter { selected.contains(name(workload, mode: mode.name, writers: $0)) }
                guard !counts.isEmpty else { continue }
                let write = try await writeOperation(workload, store: store)
                for writers in counts {
                    let result = try await measure(
                        store,
                        name: name(workload, mode: mode.name, writers: writers),
                        writers: writers,
                        duration: duration,
                        countsAllocations: countsAllocations,
                        write: write
                    )
                    progress.report(result)
                    results.append(result)
                }
            }
        }
        return results
    }

    /// One write of `workload`, given the writer count, the writer and its sequence number.
    static func writeOperation(
        _ workload: Workload, store: Store
    ) async throws -> @Sendable (UInt32, UInt32, UInt32) async throws -> Void {
        switch workload {
        case .put:
            // 64-byte values, like a metering record; keys are (writer count, writer, sequence).
            let table = try await store.openDatabase(named: "load_group_commit")
            let value = [UInt8](repeating: 0xA5, count: 64)
            return { writers, writer, sequence in
                let key = recordKey(writers, writer, sequence)
                try await store.write { transaction in try transaction.put(table, key: key, value: value) }
            }
        case .metering:
            let metering = try await store.openMetering()
            let account = try await store.createAccount(Account(name: "Load", email: "load@example.com"))
            let unixMs = UInt64(Date().timeIntervalSince1970 * 1000)
            return { writers, writer, sequence in
                try await metering.record(
                    MeteringEvent(
                        requestID: "req_\(writers)_\(writer)_\(sequence)", accountID: account.id, keyID: "key_load",
                        unixMs: unixMs, taskType: "chat", model: "gpt-oss-20b", provider: "groq",
                        promptTokens: 120, completionTokens: 64, costMicroUSD: 13, latencyMs: 310))
            }
        }
    }

    static func measure(
        _ store: Store,
        name: String,
        writers: Int,
        duration: Duration,
        countsAllocations: Bool,
        write: @escaping @Sendable (UInt32, UInt32, UInt32) async throws -> Void
    ) async throws -> MicroResult {
        // Let the writer thread settle after the previous round.
        try await store.write { _ in }
        let commitsBefore = store.commitCount
        let allocationsBefore = AllocationCounter.count
        AllocationCounter.setCounting(countsAllocations)
        let cpuStart = processCPUNanoseconds()
        let start = monotonicNanoseconds()
        let deadline = start + duration.nanoseconds
        let writes = try await withThrowingTaskGroup(of: Int.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    var sequence: UInt32 = 0
                    while monotonicNanoseconds() < deadline {
                        try await write(UInt32(writers), UInt32(writer), sequence)
                        sequence += 1
                    }
                    return Int(sequence)
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = monotonicNanoseconds() - start
        let cpu = processCPUNanoseconds() - cpuStart
        AllocationCounter.setCounting(false)
        let allocations = AllocationCounter.count - allocationsBefore
        let commits = store.commitCount - commitsBefore
        let nanosecondsPerWrite = Double(elapsed) / Double(max(writes, 1))
        var result = MicroResult(
            name: name,
            nanosecondsPerOp: nanosecondsPerWrite,
            runNanosecondsPerOp: [nanosecondsPerWrite],
            iterationsPerRun: writes,
            notes: ""
        )
        let writesPerSecond = Double(writes) * 1e9 / Double(elapsed)
        let writesPerCommit = Double(writes) / Double(max(commits, 1))
        result.cpuNanosecondsPerOp = Double(cpu) / Double(max(writes, 1))
        result.writers = writers
        result.writesPerSecond = writesPerSecond
        result.commits = commits
        result.writesPerCommit = writesPerCommit
        if countsAllocations {
            result.allocationsPerOp = Double(allocations) / Double(max(writes, 1))
        }
        result.notes =
            "\(MicroReport.grouped(Int(writesPerSecond.rounded()))) writes/s, \(MicroReport.grouped(commits)) commits, "
            + "\(MicroReport.format(writesPerCommit)) writes/commit; \(writers) writer\(writers == 1 ? "" : "s"), 1 run"
        return result
    }
}

/// The three numbers big-endian in one 12-byte key, so keys sort by writer and sequence.
private func recordKey(_ first: UInt32, _ second: UInt32, _ third: UInt32) -> [UInt8] {
    var key = [UInt8](repeating: 0, count: 12)
    key.withUnsafeMutableBytes { raw in
        raw.storeBytes(of: first.bigEndian, toByteOffset: 0, as: UInt32.self)
        raw.storeBytes(of: second.bigEndian, toByteOffset: 4, as: UInt32.self)
        raw.storeBytes(of: third.bigEndian, toByteOffset: 8, as: UInt32.self)
    }
    return key
}

extension Duration {
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        return UInt64(max(seconds, 0)) * 1_000_000_000 + UInt64(max(attoseconds, 0) / 1_000_000_000)
    }
}
