#if canImport(CPelletLoadAllocations)
import CPelletLoadAllocations
#endif

/// Counts heap allocations made by this process, for the allocations-per-op column.
///
/// `mallinfo2()` cannot give this: it reports bytes in use, which an op that allocates and frees
/// leaves unchanged. The count comes from interposing `malloc` and its relatives (every library's
/// calls, the Swift runtime's included, bind to the executable's definitions), which has to be
/// done in C: Swift reserves the name `malloc` (`@_cdecl("malloc")` warns that it "will become an
/// error"), and its definition is not exported to the dynamic symbol table, so the runtime never
/// calls it. Until the `CPelletLoadAllocations` C target exists and pellet-load depends on it,
/// the column reads "n/a".
///
/// The count covers every thread and is kept only while counting is on; the timed runs
/// leave it off, so the counter's atomic increment is never inside a figure reported as time.
/// ``selfCheck()`` proves the interposition took effect before any count is reported.
enum AllocationCounter {
    #if canImport(CPelletLoadAllocations)
    static var unavailableReason: String? { nil }

    static func setCounting(_ on: Bool) {
        pellet_allocations_set_counting(on)
    }

    /// Allocations counted so far.
    static var count: Int { Int(pellet_allocations_count()) }
    #else
    static var unavailableReason: String? {
        "counting needs malloc interposed in C (the CPelletLoadAllocations target, not in this build)"
    }

    static func setCounting(_ on: Bool) {}

    static var count: Int { 0 }
    #endif

    /// Counts the allocations of `body`.
    static func counted(_ body: () throws -> Void) rethrows -> Int {
        let before = count
        setCounting(true)
        defer { setCounting(false) }
        try body()
        return count - before
    }

    /// Whether counting works in this process: a loop that makes one Swift array per iteration
    /// (allocated by the Swift runtime, in another shared library) must count one allocation per
    /// iteration. When the dynamic linker did not bind the runtime's calls to the executable's
    /// `malloc`, the count is 0 and no count is reported.
    static func selfCheck() -> (passed: Bool, perIteration: Double) {
        guard unavailableReason == nil else { return (false, 0) }
        let iterations = 100_000
        let allocations = counted {
            for index in 0..<iterations {
                blackHole([UInt8](repeating: UInt8(truncatingIfNeeded: index), count: 64))
            }
        }
        let perIteration = Double(allocations) / Double(iterations)
        return (perIteration >= 0.99 && perIteration <= 1.01, perIteration)
    }
}
