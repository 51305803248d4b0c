/// Runs `work` now and then every `interval` until the task is cancelled: the loop of the
/// cluster's periodic jobs (key uses, housekeeping). While the database is away it waits for it,
/// checking every `recheck`, so that a run is never queued behind the pool's reconnection
/// attempts; a run longer than `limit` is cancelled and fails with `timeoutError()`. `finished`
/// hears each run's outcome (a failure is retried at the next run).
func repeatWhileDatabaseReachable(
    every interval: Duration,
    recheck: Duration,
    limit: Duration,
    databaseReachable: @Sendable () -> Bool,
    orThrow timeoutError: @escaping @Sendable () -> any Error,
    _ work: @escaping @Sendable () async throws -> Void,
    finished: (Result<Void, any Error>) -> Void
) async {
    while !Task.isCancelled {
        guard databaseReachable() else {
            guard (try? await Task.sleep(for: recheck)) != nil else { return }
            continue
        }
        do {
            try await within(limit, orThrow: timeoutError, work)
            finished(.success(()))
        } catch {
            guard !Task.isCancelled else { return }
            finished(.failure(error))
        }
        guard (try? await Task.sleep(for: interval)) != nil else { return }
    }
}
