import Foundation
import Logging

/// The provider thread's loop: owns the multi handle, the share handle and every transfer.
///
/// `@unchecked Sendable` because it is created on the thread that makes the engine and handed to
/// the provider thread once, before that thread starts; afterwards only the provider thread
/// touches it.
final class EngineLoop: @unchecked Sendable {
    private let core: EngineCore
    private var multi: CurlMulti?
    private var share: CurlShare?
    private let configuration: EngineConfiguration
    private let logger: Logger
    /// Transfers in the multi handle, which also keeps them alive: libcurl holds only unretained
    /// pointers to them.
    private var active: [UInt64: Transfer] = [:]
    /// No watchdog fires before this (a lower bound: body bytes only push deadlines later, so
    /// the timers are scanned when it passes and it is recomputed then).
    private var nextWatchdogCheck: ContinuousClock.Instant?
    /// Easy handles of finished transfers, kept for the next ones (see ``CurlEasy``).
    private var idleEasyHandles: [CurlEasy] = []
    private static let maximumIdleEasyHandles = 256

    init(core: EngineCore, multi: CurlMulti, share: CurlShare, configuration: EngineConfiguration, logger: Logger) {
        self.core = core
        self.multi = multi
        self.share = share
        self.configuration = configuration
        self.logger = logger
    }

    func run() {
        #if os(Linux)
        // For `top -H`, `perf` and /proc: Foundation's `Thread.name` does not reach the kernel,
        // and Swift does not see `pthread_setname_np`.
        let descriptor = open("/proc/thread-self/comm", O_WRONLY)
        if descriptor >= 0 {
            _ = write(descriptor, "pellet-provider", 15)
            close(descriptor)
        }
        #endif
        core.providerThreadStarted()
        if let multi, let share {
            serve(multi: multi, share: share)
        }
        // Every easy handle is gone; the multi handle goes first, then the share it used.
        idleEasyHandles.removeAll()
        let statistics = multi?.statistics
        multi = nil
        share = nil
        logger.debug("provider engine stopped")
        core.providerThreadStopped(statistics: statistics)
    }

    /// The loop, until the engine stops; then every transfer still running is failed.
    ///
    /// Each turn: the commands, if a wake-up brought any; libcurl's due timeout step (which
    /// starts the transfers just added); the finished transfers; the watchdog; then the wait,
    /// which hands libcurl each socket that became ready.
    private func serve(multi: CurlMulti, share: CurlShare) {
        // Two buffers swapped with the queue's, so taking commands allocates nothing.
        var commands: [EngineCore.Command] = []
        var woken = true
        while true {
            if woken {
                let stopping = core.takeCommands(into: &commands)
                for command in commands {
                    switch command {
                    case .start(let transfer):
                        if stopping {
                            finish(transfer, .failed(.engineStopped))
                        } else {
                            begin(transfer, multi: multi, share: share)
                        }
                    case .cancel(let id):
                        if let transfer = active[id] {
                            remove(transfer, from: multi, .cancelled)
                        }
                    case .pause(let id, let paused):
                        active[id]?.setPausedByCaller(paused)
                    case .backlogDrained(let id):
                        active[id]?.backlogDrained()
                    }
                }
                commands.removeAll(keepingCapacity: true)
                if stopping { break }
                do {
                    try multi.runDueTimers()
                } catch {
                    logger.error("libcurl failed to move transfers forward", metadata: ["error": "\(error)"])
                }
            }
            collectFinished(multi: multi)

            var timeout = configuration.maximumPollInterval
            if let check = nextWatchdogCheck {
                let now = ContinuousClock.now
                if check <= now {
                    runWatchdog(now: now, multi: multi)
                }
                if let next = nextWatchdogCheck {
                    timeout = max(.zero, min(timeout, next - now))
                }
            }
            do {
                woken = try multi.wait(timeoutMilliseconds: timeout.roundedUpMilliseconds)
            } catch {
                logger.error("the provider thread failed to wait for sockets", metadata: ["error": "\(error)"])
                woken = true
            }
        }

        for transfer in active.values {
            remove(transfer, from: multi, .failed(.engineStopped))
        }
    }

    /// Ends every transfer libcurl reports done.
    private func collectFinished(multi: CurlMulti) {
        while let (transfer, error) = multi.nextFinished() {
            let result: TransferResult
            if let error {
                result = .failed(error)
            } else {
                result = .completed(transfer.easy?.info ?? TransferInfo.unknown)
            }
            remove(transfer, from: multi, result)
        }
    }

    private func begin(_ transfer: Transfer, multi: CurlMulti, share: CurlShare) {
        guard transfer.timeout > .zero else {
            finish(transfer, .failed(TransferError(kind: .timedOut, message: "the deadline passed before the start")))
            return
        }
        do {
            let easy: CurlEasy
            if let idle = idleEasyHandles.popLast() {
                easy = idle
            } else {
                easy = try CurlEasy(configuration: configuration, share: share, multi: multi)
                core.easyHandlesCreated.add(1, ordering: .relaxed)
            }
            try transfer.attach(easy)
            try multi.add(easy)
        } catch {
            logger.debug("a provider transfer could not start", metadata: ["error": "\(error)"])
            finish(transfer, .failed(error))
            return
        }
        active[transfer.id] = transfer
        if let deadline = transfer.watchdogDeadline {
            nextWatchdogCheck = min(nextWatchdogCheck ?? deadline, deadline)
        }
    }

    /// Fails every transfer whose first-byte or idle timer has fired, and recomputes the next check.
    private func runWatchdog(now: ContinuousClock.Instant, multi: CurlMulti) {
        var next: ContinuousClock.Instant?
        var expired: [(Transfer, TransferError)] = []
        for transfer in active.values {
            if let failure = transfer.watchdogFailure(at: now) {
                expired.append((transfer, failure))
            } else if let deadline = transfer.watchdogDeadline {
                next = min(next ?? deadline, deadline)
            }
        }
        nextWatchdogCheck = next
        for (transfer, failure) in expired {
            remove(transfer, from: multi, .failed(failure))
        }
    }

    private func remove(_ transfer: Transfer, from multi: CurlMulti, _ result: TransferResult) {
        let easy = transfer.easy
        if let easy {
            multi.remove(easy)
        }
        active[transfer.id] = nil
        finish(transfer, result)
        if let easy, case .completed = result, transfer.easyIsReusable,
            idleEasyHandles.count < Self.maximumIdleEasyHandles
        {
            idleEasyHandles.append(easy)
        }
    }

    private func finish(_ transfer: Transfer, _ result: TransferResult) {
        guard !transfer.isFinished else { return }
        if case .failed(let error) = result {
            logger.debug(
                "provider transfer failed",
                metadata: ["provider.transfer": "\(transfer.id)", "error": "\(error)"])
        }
        core.transfersFinished(1)
        transfer.finish(result)
    }
}

extension TransferInfo {
    static let unknown = TransferInfo(
        status: 0, newConnections: 0, httpVersion: 0, timeToFirstByte: .zero, totalTime: .zero)
}
