import PelletStore

/// The store writer's throughput: concurrent writers, each awaiting one small put at a time, so
/// every write waits for the group commit that holds it (and, in `full` durability, its fsync).
enum GroupCommitBenchmarks {
    static let writerCounts = [1, 16, 256]
    static let modes: [(name: String, durability: StoreConfiguration.Durability)] = [
        ("full", .full), ("batched", .batched),
    ]

    static var names: [String] {
        modes.flatMap { mode in writerCounts.map { name(mode: mode.name, writers: $0) } }
    }

    static func name(mode: String, writers: Int) -> String {
        "store.group-commit.\(mode)/\(writers)"
    }

    static func run(
        names selected: [String],
        directory: (String) throws -> String,
        duration: Duration,
        countsAllocations: Bool,
        progress: ProgressLog
    ) async throws -> [MicroResult] {
        var results: [MicroResult] = []
        for mode in modes {
            let counts = writerCounts.filter { selected.contains(name(mode: mode.name, writers: $0)) }
            guard !counts.isEmpty else { continue }
            // A fresh store per mode: both start from the same empty tree.
            let store = try Store(
                configuration: StoreConfiguration(
                    dataDirectory: try directory("group-commit-\(mode.name)"),
                    durability: mode.durability
                )
            )
            defer { store.close() }
            let table = try await store.openDatabase(named: "load_group_commit")
            for writers in counts {
                let result = try await measure(
                    store,
                    table: table,
                    name: name(mode: mode.name, writers: writers),
                    writers: writers,
                    duration: duration,
                    countsAllocations: countsAllocations
                )
                progress.report(result)
                results.append(result)
            }
        }
        return results
    }

    static func measure(
        _ store: Store,
        table: Database,
        name: String,
        writers: Int,
        duration: Duration,
        countsAllocations: Bool
    ) async throws -> MicroResult {
        // 64-byte values, like a metering record; keys are (writer count, writer, sequence).
        let value = [UInt8](repeating: 0xA5, count: 64)
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
                        let key = recordKey(UInt32(writers), UInt32(writer), sequence)
                        try await store.write { transaction in
                            try transaction.put(table, key: key, value: value)
                        }
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
