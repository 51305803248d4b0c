/// Makes the calls of a run over connections it opened: one implementation per kind of target.
///
/// A worker is `(connection, slot)`; `call` may run concurrently for different workers, never for
/// the same one twice at a time.
protocol CallDriver: Sendable {
    /// Makes one call with prompt number `prompt` and waits for its end. Never throws: failures
    /// are outcomes. Returns promptly when the task is cancelled.
    func call(prompt: Int, connection: Int, slot: Int) async -> CallResult

    func close() async
}
