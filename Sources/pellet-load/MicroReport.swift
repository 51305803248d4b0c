import Foundation

/// One row of the table.
struct MicroResult: Codable, Sendable {
    var name: String
    /// The median over the runs; for a group-commit row, the run's time divided by its writes.
    var nanosecondsPerOp: Double
    var runNanosecondsPerOp: [Double]
    /// CPU time of the measuring thread per op (median over the runs); for a group-commit row,
    /// the whole process's CPU time per write.
    var cpuNanosecondsPerOp: Double?
    var iterationsPerRun: Int
    var p50Nanoseconds: Double?
    var p99Nanoseconds: Double?
    /// How many single ops the percentiles are over.
    var samples: Int?
    var allocationsPerOp: Double?
    var notes: String
    // Group commit only.
    var writers: Int?
    var writesPerSecond: Double?
    var commits: Int?
    var writesPerCommit: Double?

    init(
        name: String,
        nanosecondsPerOp: Double,
        runNanosecondsPerOp: [Double],
        iterationsPerRun: Int,
        notes: String
    ) {
        self.name = name
        self.nanosecondsPerOp = nanosecondsPerOp
        self.runNanosecondsPerOp = runNanosecondsPerOp
        self.iterationsPerRun = iterationsPerRun
        self.notes = notes
    }
}

/// Everything `pellet-load micro` found, as printed and as `--json` writes it.
struct MicroReport: Codable, Sendable {
    var cores: Int
    var buildMode: String
    var runs: Int
    /// `/proc/loadavg`'s 1, 5 and 15 minute averages at the start: other work on the machine
    /// inflates the means (ns/op) far more than the medians (p50).
    var loadAverage: String?
    /// The p50 of one clock read: every per-op sample includes one.
    var clockReadNanoseconds: UInt64
    /// How allocations are counted, or why they are not ("n/a: ...").
    var allocationCounting: String
    /// What was set up before measuring (the store fill and its time).
    var setup: [String]
    var results: [MicroResult]

    static var buildMode: String {
        #if DEBUG
        "debug"
        #else
        "release"
        #endif
    }

    /// The machine's load averages, or nil where `/proc/loadavg` does not exist.
    static func currentLoadAverage() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    func table() -> String {
        var lines: [String] = []
        lines.append(
            "pellet-load micro: \(cores) cores, \(buildMode) build, median of \(runs) runs of ≈200 ms each"
                + (loadAverage.map { ", load average \($0) at the start" } ?? "")
        )
        lines.append(
            "clock: CLOCK_MONOTONIC, one read ≈ \(clockReadNanoseconds) ns (included in every p50/p99 sample)"
        )
        lines.append(
            "ns/op: wall clock, median of the runs; cpu ns/op: the measuring thread's CPU time (group commit: the "
                + "process's, all threads, per write), which time spent waiting for other processes does not inflate"
        )
        lines.append("allocations: \(allocationCounting)")
        for item in setup {
            lines.append(item)
        }
        lines.append("")
        let header = ["benchmark", "ns/op", "cpu ns/op", "p50 ns", "p99 ns", "allocs/op", "iterations", "notes"]
        let rows = results.map { result -> [String] in
            [
                result.name,
                Self.format(result.nanosecondsPerOp),
                result.cpuNanosecondsPerOp.map(Self.format) ?? "-",
                result.p50Nanoseconds.map(Self.format) ?? "-",
                result.p99Nanoseconds.map(Self.format) ?? "-",
                result.allocationsPerOp.map { String(format: "%.1f", $0) } ?? "n/a",
                result.writers == nil
                    ? "\(result.runNanosecondsPerOp.count)×\(Self.grouped(result.iterationsPerRun))"
                    : Self.grouped(result.iterationsPerRun),
                result.notes,
            ]
        }
        let widths = header.indices.map { column in
            ([header] + rows).map { $0[column].count }.max() ?? 0
        }
        // Names and notes align left, figures right.
        func render(_ row: [String]) -> String {
            row.indices.map { column in
                let cell = row[column]
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                if column == row.count - 1 { return cell }
                return column == 0 ? cell + padding : padding + cell
            }
            .joined(separator: "  ")
        }
        lines.append(render(header))
        lines.append(render(widths.map { String(repeating: "-", count: $0) }))
        lines.append(contentsOf: rows.map(render))
        return lines.joined(separator: "\n")
    }

    /// Two decimals below 10, one below 1,000, whole numbers with separators above.
    static func format(_ nanoseconds: Double) -> String {
        if nanoseconds < 10 { return String(format: "%.2f", nanoseconds) }
        if nanoseconds < 1000 { return String(format: "%.1f", nanoseconds) }
        return grouped(Int(nanoseconds.rounded()))
    }

    static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return value < 0 ? "-" + out : out
    }
}
