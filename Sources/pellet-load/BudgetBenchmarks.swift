import PelletStore
import PelletWire

/// The budget check of a Complete call: `Metering.reserve` then `Metering.release`, the
/// ledger's whole part of a call (a settle adds the store write, measured by
/// `metering.record`), with other calls of the same account holding budget meanwhile. The
/// figures should not depend on how many holds are outstanding.
enum BudgetBenchmarks {
    static let outstandingHolds = [1, 10_000]

    static var names: [String] { outstandingHolds.map(name) }

    static func name(holds: Int) -> String { "budget.reserve-settle/holds=\(holds)" }

    static func run(
        names selected: [String],
        directory: String,
        runner: MicroRunner,
        progress: ProgressLog
    ) async throws -> [MicroResult] {
        let store = try Store(configuration: StoreConfiguration(dataDirectory: directory, durability: .batched))
        defer { store.close() }
        let metering = try await store.openMetering()
        var results: [MicroResult] = []
        for holds in outstandingHolds where selected.contains(name(holds: holds)) {
            // An account of its own per figure, so the holds of one do not weigh on the other.
            let account = try await store.createAccount(
                Account(name: "Budget \(holds)", email: "budget-\(holds)@example.com")
            )
            // The op's own hold is the last of `holds`.
            var outstanding: [Reservation] = []
            for _ in 1..<holds {
                outstanding.append(
                    try metering.reserve(accountID: account.id, budgetMicroUSD: 0, estimateMicroUSD: 1_000)
                )
            }
            let result = try runner.measure(
                MicroBenchmark(
                    name(holds: holds),
                    notes: "Metering.reserve + release with \(MicroReport.grouped(holds)) hold(s) on the account"
                ) {
                    let reservation = try metering.reserve(
                        accountID: account.id,
                        budgetMicroUSD: 1 << 40,
                        estimateMicroUSD: 1_000
                    )
                    metering.release(reservation)
                    blackHole(reservation)
                }
            )
            outstanding.forEach(metering.release)
            progress.report(result)
            results.append(result)
        }
        return results
    }
}
