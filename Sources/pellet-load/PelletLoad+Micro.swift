import ArgumentParser
import Foundation

extension PelletLoad {
    struct Micro: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run in-process microbenchmarks of the hot paths and print a table.",
            discussion: """
                Benchmarks: frame.decode, frame.encode; proto.encode.<Message> and \
                proto.decode.<Message> for each request message; provider.decode-completion and \
                provider.decode-chunk; auth.lookup, \
                auth.authenticate and auth.touch-key with --keys keys stored; \
                router.route.<prompt> and router.classify.<prompt>; \
                metrics.histogram, metrics.call, metrics.complete and metrics.attempt-failed (the metrics' recording path); \
                store.group-commit.<mode>/N (one 64-byte put) and metering.record.<mode>/N (one \
                Complete call's metering event) for mode full and batched with N = 1, 16, 256 \
                concurrent writers (one run of about a second each); budget.reserve-settle/holds=N \
                (Metering.reserve + release with N = 1 and 10000 holds outstanding on the account). ns/op is the median of --runs runs of about 200 ms; p50 and \
                p99 time single ops (each sample includes one clock read); allocs/op counts the \
                process's calls to malloc and its relatives, all threads, in a separate pass.
                """
        )

        @Option(help: ArgumentHelp("Run only the benchmarks whose name contains this text.", valueName: "name"))
        var filter: String?

        @Option(help: "Timed runs per benchmark; the median is reported.")
        var runs = 5

        @Flag(help: "Write the table as JSON to stdout (progress still goes to stderr).")
        var json = false

        @Option(help: "API keys (and accounts) stored for the auth benchmarks.")
        var keys = 100_000

        @Option(
            help: ArgumentHelp(
                "Where the benchmark stores are made; kept afterwards. "
                    + "(default: a temporary directory, removed afterwards)",
                valueName: "dir"
            )
        )
        var dataDir: String?

        func validate() throws {
            guard runs >= 1 else { throw ValidationError("--runs must be at least 1, not \(runs)") }
            guard (1...10_000_000).contains(keys) else {
                throw ValidationError("--keys must be from 1 to 10000000, not \(keys)")
            }
            if let filter, filter.isEmpty { throw ValidationError("--filter may not be empty") }
            if let dataDir, dataDir.isEmpty { throw ValidationError("--data-dir may not be empty") }
        }

        func run() async throws {
            let wireBenchmarks = try WireBenchmarks.all() + ProviderBenchmarks.all() + RouterBenchmarks.all()
                + MetricsBenchmarks.all()
            let allNames =
                wireBenchmarks.map(\.name) + AuthBenchmarks.names + UsageQueryBenchmarks.names
                + GroupCommitBenchmarks.names + BudgetBenchmarks.names
            let selected = allNames.filter { filter.map($0.contains) ?? true }
            guard !selected.isEmpty else {
                throw ValidationError(
                    "no benchmark name contains \"\(filter ?? "")\"; the benchmarks are: "
                        + allNames.joined(separator: ", ")
                )
            }
            let progress = ProgressLog()

            let check = AllocationCounter.selfCheck()
            let allocationCounting: String
            if let reason = AllocationCounter.unavailableReason {
                allocationCounting = "n/a: \(reason)"
            } else if check.passed {
                allocationCounting =
                    "calls to malloc/calloc/realloc/memalign counted by interposing them, all threads, "
                    + "in a separate pass "
                    + "(self-check: \(String(format: "%.2f", check.perIteration)) per 64-byte array, expected 1)"
            } else {
                allocationCounting =
                    "n/a: the malloc interposition did not see the Swift runtime's allocations "
                    + "(self-check counted \(String(format: "%.2f", check.perIteration)) per array, expected 1)"
            }
            let runner = MicroRunner(runs: runs, countsAllocations: check.passed)
            var report = MicroReport(
                cores: ProcessInfo.processInfo.activeProcessorCount,
                buildMode: MicroReport.buildMode,
                runs: runs,
                loadAverage: MicroReport.currentLoadAverage(),
                clockReadNanoseconds: MicroRunner.clockReadCost(),
                allocationCounting: allocationCounting,
                setup: [],
                results: []
            )
            progress.say(
                "pellet-load micro: \(report.cores) cores, \(report.buildMode) build, \(selected.count) benchmark\(selected.count == 1 ? "" : "s")"
            )

            for benchmark in wireBenchmarks where selected.contains(benchmark.name) {
                let result = try runner.measure(benchmark)
                progress.report(result)
                report.results.append(result)
            }

            let directory = try BenchmarkDirectory(path: dataDir)
            defer { directory.removeIfTemporary() }

            // The benchmarks over a filled store, each in its own subdirectory.
            typealias StoreBenchmarks = (
                directory: String, names: [String], run: ([String], String) async throws -> (String, [MicroResult])
            )
            let storeBenchmarks: [StoreBenchmarks] = [
                ("auth", AuthBenchmarks.names, { [keys] names, path in
                    try await AuthBenchmarks.run(
                        names: names, keyCount: keys, directory: path, runner: runner, progress: progress)
                }),
                ("usage", UsageQueryBenchmarks.names, { names, path in
                    try await UsageQueryBenchmarks.run(names: names, directory: path, runner: runner, progress: progress)
                }),
            ]
            for benchmark in storeBenchmarks {
                let names = benchmark.names.filter(selected.contains)
                guard !names.isEmpty else { continue }
                let (setup, results) = try await benchmark.run(names, try directory.newSubdirectory(benchmark.directory))
                report.setup.append(setup)
                report.results += results
            }

            let groupCommitNames = GroupCommitBenchmarks.names.filter(selected.contains)
            if !groupCommitNames.isEmpty {
                report.results += try await GroupCommitBenchmarks.run(
                    names: groupCommitNames,
                    directory: directory.newSubdirectory,
                    duration: .seconds(1),
                    countsAllocations: check.passed,
                    progress: progress
                )
            }
            let budgetNames = BudgetBenchmarks.names.filter(selected.contains)
            if !budgetNames.isEmpty {
                report.results += try await BudgetBenchmarks.run(
                    names: budgetNames,
                    directory: try directory.newSubdirectory("budget"),
                    runner: runner,
                    progress: progress
                )
            }
            if !report.setup.isEmpty || !groupCommitNames.isEmpty || !budgetNames.isEmpty {
                report.setup.append(
                    "stores in \(directory.path)\(directory.isTemporary ? " (removed afterwards)" : "")")
            }

            print(json ? try report.json() : report.table())
        }
    }
}

/// Progress lines on stderr, so that stdout holds only the table or the JSON.
struct ProgressLog: Sendable {
    func say(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    func report(_ result: MicroResult) {
        var line = "\(result.name): \(MicroReport.format(result.nanosecondsPerOp)) ns/op"
        if let p50 = result.p50Nanoseconds, let p99 = result.p99Nanoseconds {
            line += ", p50 \(MicroReport.format(p50)) ns, p99 \(MicroReport.format(p99)) ns"
        }
        if let allocations = result.allocationsPerOp {
            line += ", \(String(format: "%.1f", allocations)) allocs/op"
        }
        if let writesPerSecond = result.writesPerSecond, let writesPerCommit = result.writesPerCommit {
            line +=
                ", \(MicroReport.grouped(Int(writesPerSecond))) writes/s, "
                + "\(MicroReport.format(writesPerCommit)) writes/commit"
        }
        say(line)
    }
}
