/// `body`'s result, or `timeoutError()` thrown after `timeout` (and `body` cancelled): while the
/// database is down the driver's pool waits for a connection (retrying with a growing pause),
/// and neither an admin's call nor the metering shipper may wait for that unseen.
func within<Value: Sendable>(
    _ timeout: Duration,
    orThrow timeoutError: @escaping @Sendable () -> any Error,
    _ body: @escaping @Sendable () async throws -> Value
) async throws -> Value {
    try await withThrowingTaskGroup(of: Value?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw timeoutError()
        }
        return value
    }
}
