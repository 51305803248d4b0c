import Foundation
import PelletClient
import Synchronization

/// Runs a configuration against its target: connects, warms up, measures, drains, reports.
///
/// Every worker is a task that keeps one call outstanding, `in-flight` of them per connection.
/// In a closed loop a worker starts its next call when one ends. In an open loop the workers of
/// a connection take that connection's requests in order from the `OpenLoopSchedule`, each
/// waiting for its request's send time if it is early; when they are all busy a due request
/// waits for one to be free, and its latency, measured from the scheduled time, includes the
/// wait.
public struct LoadRunner: Sendable {
    public let configuration: LoadConfiguration
    /// Receives the live progress line once a second; nil for none.
    public let progress: (@Sendable (String) -> Void)?

    public init(configuration: LoadConfiguration, progress: (@Sendable (String) -> Void)? = nil) {
        self.configuration = configuration
        self.progress = progress
    }

    /// A worker's pause after a transport error, so that a dead connection is retried, not spun on.
    static let transportErrorBackoff: Duration = .milliseconds(100)
    /// Open-loop requests due this soon are sent at once: sleeping for less costs more than it saves.
    static let earlySendNanoseconds: UInt64 = 20_000

    /// Throws only when the run cannot start (the target cannot be reached); failed calls are in
    /// the report.
    public func run() async throws(LoadError) -> LoadReport {
        if configuration.client == .lean {
            return try await runLean()
        }
        let driver = try await connect()
        let report = await measure(with: driver)
        await driver.close()
        return report
    }

    private func connect() async throws(LoadError) -> any CallDriver {
        switch configuration.target {
        case .pellet(let address):
            try await RPCDriver.connect(configuration, address: address)
        case .http(let host, let port, let path):
            try await HTTPDriver.connect(configuration, host: host, port: port, path: path)
        }
    }

    private func measure(with driver: any CallDriver) async -> LoadReport {
        let workers = configuration.connections * configuration.inFlight
        let timeline = Timeline(
            start: LoadClock.now(),
            warmup: Self.nanoseconds(configuration.warmup),
            duration: Self.nanoseconds(configuration.duration)
        )
        let recorder = LoadRecorder(workers: workers)
        let schedule = configuration.rate.map {
            OpenLoopSchedule(start: timeline.start, rate: $0, connections: configuration.connections)
        }
        let claims = (0..<configuration.connections).map { _ in RequestClaims() }
        let progressTask = startProgress(timeline: timeline, recorder: recorder, schedule: schedule, claims: claims)

        await withTaskGroup(of: Bool.self) { group in
            for connection in 0..<configuration.connections {
                for slot in 0..<configuration.inFlight {
                    let worker = Worker(
                        index: connection * configuration.inFlight + slot,
                        connection: connection,
                        slot: slot,
                        promptCount: configuration.prompts.count,
                        driver: driver,
                        recorder: recorder,
                        timeline: timeline
                    )
                    if let schedule {
                        let claims = claims[connection]
                        group.addTask {
                            await worker.runOpenLoop(schedule: schedule, claims: claims)
                            return true
                        }
                    } else {
                        group.addTask {
                            await worker.runClosedLoop()
                            return true
                        }
                    }
                }
            }
            // The drain limit: calls still out this long after the end are abandoned.
            let drainDeadline = timeline.measureEnd + Self.nanoseconds(configuration.drainTimeout)
            group.addTask {
                let now = LoadClock.now()
                if drainDeadline > now {
                    try? await Task.sleep(for: .nanoseconds(Int64(drainDeadline - now)))
                }
                return false
            }
            var running = workers
            while running > 0, let isWorker = await group.next() {
                if isWorker {
                    running -= 1
                } else {
                    group.cancelAll()
                }
            }
            group.cancelAll()
        }
        return await finish(timeline: timeline, recorder: recorder, progressTask: progressTask)
    }

    /// The live progress line's task, if there is a sink for it.
    func startProgress(
        timeline: Timeline, recorder: LoadRecorder, schedule: OpenLoopSchedule?, claims: [RequestClaims]
    ) -> Task<Void, Never>? {
        progress.map { sink in
            Task {
                await reportProgress(
                    to: sink,
                    timeline: timeline,
                    recorder: recorder,
                    backlog: {
                        guard let schedule else { return nil }
                        let claimed = claims.reduce(UInt64(0)) { total, claims in total + claims.claimedCount }
                        return schedule.backlog(at: LoadClock.now(), sent: claimed)
                    }
                )
            }
        }
    }

    /// Stops the progress line and makes the report of what `recorder` holds.
    func finish(timeline: Timeline, recorder: LoadRecorder, progressTask: Task<Void, Never>?) async -> LoadReport {
        let finishedAt = LoadClock.now()
        progressTask?.cancel()
        _ = await progressTask?.value

        let measuredNanoseconds = max(finishedAt, timeline.measureEnd) - timeline.measureStart
        return LoadReport(
            configuration: configuration,
            tally: recorder.snapshot(),
            durationSeconds: Double(measuredNanoseconds) / 1e9
        )
    }

    /// A line a second: during the warm-up on the second from the start, then on the second
    /// from the start of the measured time, so that no line covers a sliver of each.
    func reportProgress(
        to sink: @Sendable (String) -> Void,
        timeline: Timeline,
        recorder: LoadRecorder,
        backlog: @Sendable () -> UInt64?
    ) async {
        let second: UInt64 = 1_000_000_000
        var tick = timeline.start + second
        var previousCompleted: UInt64 = 0
        var previousTime = timeline.measureStart
        while !Task.isCancelled {
            if tick > timeline.measureStart, tick < timeline.measureStart + second {
                tick = timeline.measureStart + second
            }
            let now = LoadClock.now()
            if tick > now {
                do { try await Task.sleep(for: .nanoseconds(Int64(tick - now))) } catch { return }
            }
            let time = LoadClock.now()
            let isWarmup = tick <= timeline.measureStart
            let isDraining = tick > timeline.measureEnd
            tick += second
            if isWarmup {
                sink(String(format: "[warmup %4.1fs] not measured", Double(time - timeline.start) / 1e9))
                continue
            }
            let tally = recorder.snapshot()
            let elapsed = Double(time - timeline.measureStart) / 1e9
            let interval = Double(time - previousTime) / 1e9
            let rate = interval > 0 ? Double(tally.completed - previousCompleted) / interval : 0
            previousCompleted = tally.completed
            previousTime = time
            var line =
                String(format: "[%6.1fs] %9.1f/s", elapsed, rate)
                + "  completed \(tally.completed)  errors \(tally.errors)"
                + "  p50 \(LoadReport.formatMicroseconds(tally.latency.microseconds(atPercentile: 50)))"
                + "  p99 \(LoadReport.formatMicroseconds(tally.latency.microseconds(atPercentile: 99)))"
            if let behind = backlog() { line += "  behind \(behind)" }
            if isDraining { line += "  (draining)" }
            sink(line)
        }
    }

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds / 1_000_000_000))
    }
}

/// The run's phases on the monotonic clock: warm-up from `start`, then the measured window.
struct Timeline: Sendable {
    let start: UInt64
    let measureStart: UInt64
    let measureEnd: UInt64

    init(start: UInt64, warmup: UInt64, duration: UInt64) {
        self.start = start
        self.measureStart = start + warmup
        self.measureEnd = start + warmup + duration
    }
}

/// Hands out a connection's open-loop requests in order to whichever of its workers is free.
final class RequestClaims: Sendable {
    private let next = Atomic<UInt64>(0)

    /// The ordinal (within the connection) of the next request to send.
    func claim() -> UInt64 {
        next.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    var claimedCount: UInt64 { next.load(ordering: .relaxed) }
}

/// One outstanding call's loop.
struct Worker: Sendable {
    let index: Int
    let connection: Int
    let slot: Int
    let promptCount: Int
    let driver: any CallDriver
    let recorder: LoadRecorder
    let timeline: Timeline

    func runClosedLoop() async {
        // Workers start at different prompts so that the mix is spread from the first call.
        var prompt = index % promptCount
        while !Task.isCancelled {
            let sentAt = LoadClock.now()
            guard sentAt < timeline.measureEnd else { return }
            let isMeasured = sentAt >= timeline.measureStart
            if isMeasured { recorder.markSent(worker: index) }
            let result = await driver.call(prompt: prompt, connection: connection, slot: slot)
            // Cancelled by the drain limit: abandoned, not answered.
            if Task.isCancelled { return }
            if isMeasured { record(result, since: sentAt) }
            if result.outcome == .transportError { await backOff() }
            prompt += 1
            if prompt == promptCount { prompt = 0 }
        }
    }

    func runOpenLoop(schedule: OpenLoopSchedule, claims: RequestClaims) async {
        while !Task.isCancelled {
            let ordinal = claims.claim()
            let dueAt = schedule.sendTime(connection: connection, ordinal: ordinal)
            guard dueAt < timeline.measureEnd else { return }
            let now = LoadClock.now()
            if dueAt > now + LoadRunner.earlySendNanoseconds {
                do {
                    try await Task.sleep(for: .nanoseconds(Int64(dueAt - now)), tolerance: .zero)
                } catch {
                    return
                }
            }
            let sentAt = LoadClock.now()
            let isMeasured = dueAt >= timeline.measureStart
            if isMeasured { recorder.markSent(worker: index) }
            let requestIndex = schedule.requestIndex(connection: connection, ordinal: ordinal)
            let result = await driver.call(
                prompt: Int(requestIndex % UInt64(promptCount)),
                connection: connection,
                slot: slot
            )
            if Task.isCancelled { return }
            // From the scheduled time, not the actual send: a wait for a free worker counts.
            if isMeasured { record(result, since: dueAt, sentAt: sentAt) }
            if result.outcome == .transportError { await backOff() }
        }
    }

    /// `sentAt` only in the open loop, where `start` is the scheduled time.
    private func record(_ result: CallResult, since start: UInt64, sentAt: UInt64? = nil) {
        let endedAt = LoadClock.now()
        recorder.record(
            worker: index,
            result.outcome,
            latencyNanoseconds: endedAt > start ? endedAt - start : 0,
            firstChunkNanoseconds: result.firstChunkAt.map { $0 > start ? $0 - start : 0 },
            sendDelayNanoseconds: sentAt.map { $0 > start ? $0 - start : 0 }
        )
    }

    private func backOff() async {
        try? await Task.sleep(for: LoadRunner.transportErrorBackoff)
    }
}
