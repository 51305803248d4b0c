import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One in-process microbenchmark: an operation measured by calling it many times. One call is
/// one op of the path measured, so timing calls one by one gives its latency distribution.
struct MicroBenchmark {
    let name: String
    /// Context shown beside the figures (message sizes, what the op includes).
    let notes: String
    /// One op. It must hand its result to ``blackHole(_:)``.
    let operation: () throws -> Void

    init(_ name: String, notes: String = "", operation: @escaping () throws -> Void) {
        self.name = name
        self.notes = notes
        self.operation = operation
    }
}

/// The monotonic clock (CLOCK_MONOTONIC through `DispatchTime`), in nanoseconds.
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    DispatchTime.now().uptimeNanoseconds
}

/// CPU time consumed by the calling thread, in nanoseconds: unlike the wall clock it does not
/// count the time the thread waited while other processes ran, so it holds up on a busy machine.
func threadCPUNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

/// CPU time consumed by the whole process (every thread), in nanoseconds.
func processCPUNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

/// Runs microbenchmarks: calibrates an iteration count that takes about `runNanoseconds`, takes the
/// median ns/op of `runs` such runs, then times single ops for percentiles and counts
/// allocations in separate passes, so that neither the per-op clock reads nor the allocation
/// counter's atomic increments are inside a timed run.
struct MicroRunner {
    var runs: Int
    var runNanoseconds: UInt64 = 200_000_000
    /// At most this many ops are timed one by one, and counted for allocations.
    var maximumSamples = 100_000
    var countsAllocations: Bool

    func measure(_ benchmark: MicroBenchmark) throws -> MicroResult {
        let operation = benchmark.operation
        let iterations = try calibrate(operation)
        var runNanosecondsPerOp: [Double] = []
        var runCPUNanosecondsPerOp: [Double] = []
        for _ in 0..<runs {
            let cpuStart = threadCPUNanoseconds()
            let elapsed = try time(iterations, operation)
            runCPUNanosecondsPerOp.append(Double(threadCPUNanoseconds() - cpuStart) / Double(iterations))
            runNanosecondsPerOp.append(Double(elapsed) / Double(iterations))
        }
        var result = MicroResult(
            name: benchmark.name,
            nanosecondsPerOp: median(runNanosecondsPerOp),
            runNanosecondsPerOp: runNanosecondsPerOp,
            iterationsPerRun: iterations,
            notes: benchmark.notes
        )
        result.cpuNanosecondsPerOp = median(runCPUNanosecondsPerOp)
        let sampleCount = min(iterations, maximumSamples)
        let samples = try timeSingleOps(sampleCount, operation).sorted()
        result.p50Nanoseconds = Double(percentile(sorted: samples, 0.50))
        result.p99Nanoseconds = Double(percentile(sorted: samples, 0.99))
        result.samples = sampleCount
        if countsAllocations {
            let allocations = try AllocationCounter.counted {
                for _ in 0..<sampleCount { try operation() }
            }
            result.allocationsPerOp = Double(allocations) / Double(sampleCount)
        }
        return result
    }

    /// The iteration count of a run that takes about `runNanoseconds`: doubles from 1 until a
    /// run takes a twentieth of that, then scales. Runs are judged by the thread's CPU time, so a
    /// preemption during a short early run (this machine may be busy) cannot end calibration
    /// with a tiny count. Also warms caches and lazy state up.
    private func calibrate(_ operation: () throws -> Void) throws -> Int {
        try operation()
        var iterations = 1
        while true {
            let start = threadCPUNanoseconds()
            _ = try time(iterations, operation)
            let elapsed = threadCPUNanoseconds() - start
            if elapsed >= runNanoseconds / 20 || iterations >= 1 << 30 {
                let scaled = Double(iterations) * Double(runNanoseconds) / Double(max(elapsed, 1))
                return max(1, Int(scaled.rounded()))
            }
            iterations *= 2
        }
    }

    private func time(_ iterations: Int, _ operation: () throws -> Void) throws -> UInt64 {
        let start = monotonicNanoseconds()
        for _ in 0..<iterations {
            try operation()
        }
        return monotonicNanoseconds() - start
    }

    /// Each op timed on its own; every sample includes one clock read (see ``clockReadCost()``).
    private func timeSingleOps(_ count: Int, _ operation: () throws -> Void) throws -> [UInt64] {
        var samples = [UInt64](repeating: 0, count: count)
        try samples.withUnsafeMutableBufferPointer { samples in
            for index in samples.indices {
                let start = monotonicNanoseconds()
                try operation()
                samples[index] = monotonicNanoseconds() - start
            }
        }
        return samples
    }

    /// The p50 of two back-to-back clock reads: the floor under every per-op sample.
    static func clockReadCost() -> UInt64 {
        var samples = [UInt64](repeating: 0, count: 100_000)
        for index in samples.indices {
            let start = monotonicNanoseconds()
            samples[index] = monotonicNanoseconds() - start
        }
        return percentile(sorted: samples.sorted(), 0.5)
    }
}

/// The nearest-rank percentile (`fraction` in 0...1) of samples sorted in increasing order.
func percentile(sorted: [UInt64], _ fraction: Double) -> UInt64 {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((fraction * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
