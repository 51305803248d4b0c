import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs every upstream HTTP transfer of the process on one thread, over one libcurl multi
/// handle (DESIGN.md section 3).
///
/// Any thread may ``start(_:handler:)`` a transfer or cancel it through its ``TransferHandle``:
/// the command is queued and the provider thread is woken through an eventfd in its epoll, so it
/// takes effect within microseconds rather than at the next poll timeout. The provider thread
/// sleeps in `epoll_wait` over the sockets libcurl asks it to watch, hands the ready ones to
/// `curl_multi_socket_action` and reads finished transfers with `curl_multi_info_read`
/// (``CurlMulti``); libcurl multiplexes transfers to the same host over HTTP/2 streams and
/// reuses connections and TLS sessions.
/// Handlers are called on the provider thread and hop to their own event loop.
///
/// `Sendable`: its state is the command queue behind a lock; everything libcurl lives on the
/// provider thread.
public final class ProviderEngine: Sendable {
    private let core: EngineCore
    public let configuration: EngineConfiguration

    /// Initialises libcurl (once per process), ignores SIGPIPE process-wide (a peer closing a
    /// socket must not kill the server), and starts the provider thread.
    ///
    /// Throws when libcurl cannot be initialised.
    public init(configuration: EngineConfiguration = EngineConfiguration(), logger: Logger) throws(TransferError) {
        try CurlLibrary.initialize()
        signal(SIGPIPE, SIG_IGN)
        let multi = try CurlMulti(
            maximumIdleConnections: configuration.maximumIdleConnections,
            maximumConnectionsPerHost: configuration.maximumConnectionsPerHost,
            readinessLoop: configuration.readinessLoop
        )
        let share = try CurlShare()
        self.configuration = configuration
        self.core = EngineCore(multi: multi)
        let loop = EngineLoop(core: core, multi: multi, share: share, configuration: configuration, logger: logger)
        let thread = Thread { loop.run() }
        thread.name = "pellet-provider"
        thread.start()
        logger.debug("provider engine started", metadata: ["provider.curl": "\(CurlLibrary.version)"])
    }

    deinit {
        shutdown()
    }

    /// Starts a transfer. Callable from any thread; returns at once.
    ///
    /// `handler` is called on the provider thread (see ``TransferHandler``), except when the
    /// engine is already shut down: then `finished(.failed(...engineStopped))` is called before
    /// this returns, on the caller's thread.
    ///
    /// With `unconsumedBodyLimit`, the handler's body bytes count until the consumer reports
    /// them done with ``TransferHandle/consumed(_:)``: once more than the limit is outstanding
    /// the transfer pauses (libcurl keeps the next bytes, the server's wait in the socket), and it
    /// resumes when half of it is consumed. So a consumer slower than the network (an event loop
    /// decoding a fast stream) holds at most the limit plus one chunk of bytes in flight. The
    /// timeout and the idle timeout still run while it is paused.
    @discardableResult
    public func start(
        _ request: HTTPRequest, handler: some TransferHandler, unconsumedBodyLimit: Int? = nil
    ) -> TransferHandle {
        core.start(request, handler: handler, backlog: unconsumedBodyLimit.map(BodyBacklog.init(limit:)))
    }

    /// Stops the provider thread: every transfer still running finishes with
    /// ``TransferError/Kind-swift.struct/engineStopped``, every handle is removed and cleaned
    /// up. Returns once that is done (at once when called on the provider thread itself, which
    /// then stops after the current step). Idempotent.
    public func shutdown() {
        core.shutdown()
    }

    /// Transfers started and not yet finished (queued or running).
    public var transfersInFlight: Int {
        core.transfersInFlight
    }

    /// libcurl easy handles made so far: finished transfers' handles serve later ones, so this
    /// stays near the most transfers ever running at once.
    public var easyHandlesCreated: Int {
        core.easyHandlesCreated.load(ordering: .relaxed)
    }

    /// What the provider thread's epoll loop has done so far (see ``ReactorStatistics``).
    /// After ``shutdown()``: the figures as it stopped.
    public var reactorStatistics: ReactorStatistics {
        core.reactorStatistics
    }
}

/// Controls one transfer: cancels, pauses, reports consumed body bytes. Callable from any thread,
/// any number of times.
public final class TransferHandle: Sendable {
    private let core: EngineCore
    private let backlog: BodyBacklog?
    public let id: UInt64

    init(core: EngineCore, id: UInt64, backlog: BodyBacklog?) {
        self.core = core
        self.id = id
        self.backlog = backlog
    }

    /// Stops the transfer: the provider thread removes its easy handle (on HTTP/2 only that
    /// stream is reset; on HTTP/1.1 the connection is closed) and the handler gets `.cancelled`.
    /// A no-op once the transfer has finished.
    public func cancel() {
        core.enqueue(.cancel(id))
    }

    /// Stops (true) or resumes (false) reading the response: for a consumer that cannot keep
    /// up. libcurl keeps what it already read; the server's further bytes wait in the socket
    /// (TCP flow control). The timeout, and the idle timeout, still run while paused. A no-op
    /// once the transfer has finished.
    public func setPaused(_ paused: Bool) {
        core.enqueue(.pause(id, paused))
    }

    /// The consumer is done with `byteCount` more of the body bytes the handler was given (see
    /// `unconsumedBodyLimit` in ``ProviderEngine/start(_:handler:unconsumedBodyLimit:)``); a
    /// transfer paused for its backlog resumes once half of it is consumed. A no-op without a
    /// limit, or once the transfer has finished.
    public func consumed(_ byteCount: Int) {
        if backlog?.consume(byteCount) == true {
            core.enqueue(.backlogDrained(id))
        }
    }

    /// Body bytes handed to the handler and not yet ``consumed(_:)`` (0 without a limit).
    public var unconsumedBodyBytes: Int {
        backlog?.unconsumed ?? 0
    }
}

/// The state shared between callers and the provider thread: the command queue.
///
/// `@unchecked Sendable` because every mutable field is only touched with `condition` locked.
final class EngineCore: @unchecked Sendable {
    enum Command {
        case start(Transfer)
        case cancel(UInt64)
        /// `curl_easy_pause` must run on the thread that drives the multi handle.
        case pause(UInt64, Bool)
        /// The handler's consumer caught up: resume a transfer paused for its backlog.
        case backlogDrained(UInt64)
    }

    private let condition = NSCondition()
    private var commands: [Command] = []
    /// Nil once the provider thread has begun stopping: a wakeup must never reach a multi handle
    /// (and its eventfd) being cleaned up.
    private var wakeTarget: CurlMulti?
    /// A wakeup was sent and the provider thread has not taken the commands yet: another one
    /// would only cost a system call.
    private var wakeupPending = false
    private var accepting = true
    private var stopped = false
    private var nextID: UInt64 = 1
    /// Raised with `condition` locked (after the `accepting` check), lowered by the provider
    /// thread without it: a finished transfer costs no lock.
    private let inFlight = Atomic<Int>(0)
    private var providerThread: pthread_t?
    /// Written by the provider thread, read by anyone (``ProviderEngine/easyHandlesCreated``).
    let easyHandlesCreated = Atomic<Int>(0)

    /// The reactor's figures as the provider thread stopped (``ProviderEngine/reactorStatistics``
    /// reads the live ones through `wakeTarget` until then).
    private var finalStatistics = ReactorStatistics(
        waits: 0, socketActions: 0, timerActions: 0, registrations: 0, strayEvents: 0, watchedSockets: 0)

    init(multi: CurlMulti) {
        self.wakeTarget = multi
    }

    func start(_ request: HTTPRequest, handler: some TransferHandler, backlog: BodyBacklog?) -> TransferHandle {
        condition.lock()
        let id = nextID
        nextID += 1
        let handle = TransferHandle(core: self, id: id, backlog: backlog)
        guard accepting else {
            condition.unlock()
            handler.finished(.failed(.engineStopped))
            return handle
        }
        inFlight.add(1, ordering: .relaxed)
        commands.append(.start(Transfer(id: id, request: request, handler: handler, backlog: backlog)))
        wakeLocked()
        condition.unlock()
        return handle
    }

    func enqueue(_ command: Command) {
        condition.lock()
        defer { condition.unlock() }
        guard accepting else { return }
        commands.append(command)
        wakeLocked()
    }

    func shutdown() {
        condition.lock()
        defer { condition.unlock() }
        if accepting {
            accepting = false
            wakeTarget?.wakeup()
        }
        if let providerThread, pthread_equal(providerThread, pthread_self()) != 0 {
            return
        }
        while !stopped {
            condition.wait()
        }
    }

    var reactorStatistics: ReactorStatistics {
        condition.lock()
        defer { condition.unlock() }
        // The provider thread frees the multi handle only after clearing `wakeTarget`, with
        // this lock held.
        return wakeTarget?.statistics ?? finalStatistics
    }

    var transfersInFlight: Int {
        inFlight.load(ordering: .relaxed)
    }

    // MARK: - Provider thread side

    func providerThreadStarted() {
        condition.lock()
        providerThread = pthread_self()
        condition.unlock()
    }

    /// Swaps everything queued into `taken` (empty, its capacity kept for the queue's next
    /// commands), and says whether the engine is stopping. Once it is, the multi handle is no
    /// longer a wakeup target.
    func takeCommands(into taken: inout [Command]) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        wakeupPending = false
        if !accepting, let multi = wakeTarget {
            finalStatistics = multi.statistics
            wakeTarget = nil
        }
        if !commands.isEmpty {
            swap(&taken, &commands)
        }
        return !accepting
    }

    func transfersFinished(_ count: Int) {
        inFlight.subtract(count, ordering: .relaxed)
    }

    func providerThreadStopped(statistics: ReactorStatistics?) {
        condition.lock()
        if let statistics { finalStatistics = statistics }
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private func wakeLocked() {
        if !wakeupPending {
            wakeupPending = true
            wakeTarget?.wakeup()
        }
    }
}
