import CCurl

/// The libcurl multi handle, driven by `curl_multi_socket_action` from the provider thread's
/// own epoll (`PelletReactor.c`): the thread sleeps in `epoll_wait` over the sockets libcurl
/// asked to have watched and the wake-up eventfd, hands libcurl only the sockets that are ready,
/// and runs libcurl's timeout step when its timer is due. Compared with `curl_multi_perform` and
/// `curl_multi_poll`, libcurl no longer polls every socket of every transfer with a zero timeout
/// at each step, nor drains a wake-up socket pair. (``EngineConfiguration/ReadinessLoop/libcurlPoll``
/// selects that older loop, which is what runs where there is no epoll.)
///
/// Owned by the provider thread. `@unchecked Sendable` because one method, ``wakeup()``, is
/// called from other threads (it writes the eventfd); the engine core makes sure it is never
/// called once the handle is being cleaned up.
final class CurlMulti: @unchecked Sendable {
    private let handle: UnsafeMutableRawPointer
    /// Freed after the multi handle, whose cleanup still reports sockets to it.
    let reactor: OpaquePointer

    init(
        maximumIdleConnections: Int, maximumConnectionsPerHost: Int,
        readinessLoop: EngineConfiguration.ReadinessLoop
    ) throws(TransferError) {
        guard let handle = curl_multi_init() else {
            throw TransferError(kind: .other, message: "curl_multi_init failed")
        }
        let kind = readinessLoop == .epoll ? PELLET_REACTOR_EPOLL : PELLET_REACTOR_CURL_POLL
        guard let reactor = pellet_reactor_create(handle, kind) else {
            curl_multi_cleanup(handle)
            throw TransferError(kind: .other, message: "the provider thread's epoll could not be set up")
        }
        self.handle = handle
        self.reactor = reactor
        do {
            // HTTP/2: many transfers to one provider share one connection as streams.
            try check(pellet_curl_multi_setopt_long(handle, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX), "pipelining")
            if maximumIdleConnections > 0 {
                try check(
                    pellet_curl_multi_setopt_long(handle, CURLMOPT_MAXCONNECTS, maximumIdleConnections), "maxconnects")
            }
            if maximumConnectionsPerHost > 0 {
                try check(
                    pellet_curl_multi_setopt_long(handle, CURLMOPT_MAX_HOST_CONNECTIONS, maximumConnectionsPerHost),
                    "max host connections")
            }
        } catch {
            curl_multi_cleanup(handle)
            pellet_reactor_destroy(reactor)
            throw error
        }
    }

    /// Only once every easy handle has been removed.
    deinit {
        curl_multi_cleanup(handle)
        pellet_reactor_destroy(reactor)
    }

    func add(_ easy: CurlEasy) throws(TransferError) {
        try check(curl_multi_add_handle(handle, easy.handle), "curl_multi_add_handle")
    }

    func remove(_ easy: CurlEasy) {
        // Fails only for a handle that is not in this multi, which the engine never passes.
        _ = curl_multi_remove_handle(handle, easy.handle)
    }

    /// Runs libcurl's timeout step if it is due: what starts a transfer just added, and what
    /// ends one whose `CURLOPT_TIMEOUT_MS` passed. Runs the data callbacks.
    func runDueTimers() throws(TransferError) {
        try check(pellet_reactor_run_timers(reactor), "curl_multi_socket_action")
    }

    /// Waits for a ready socket, libcurl's next timeout, a ``wakeup()``, or `milliseconds`,
    /// then moves forward the transfers of the ready sockets (running the data callbacks) and
    /// any due timeout step. True when a ``wakeup()`` ended the wait.
    func wait(timeoutMilliseconds milliseconds: Int) throws(TransferError) -> Bool {
        let result = pellet_reactor_wait(reactor, Int32(clamping: milliseconds))
        if result < 0 {
            throw TransferError(kind: .other, message: "epoll_wait failed (errno \(-result))")
        }
        return result > 0
    }

    /// Makes a ``wait(timeoutMilliseconds:)`` in progress (or the next one) return at once.
    /// Callable from any thread.
    func wakeup() {
        pellet_reactor_wake(reactor)
    }

    /// The reactor's counters (see ``ReactorStatistics``). Callable from any thread.
    var statistics: ReactorStatistics {
        let stats = pellet_reactor_get_stats(reactor)
        return ReactorStatistics(
            waits: Int(stats.waits), socketActions: Int(stats.socket_actions),
            timerActions: Int(stats.timer_actions), registrations: Int(stats.registrations),
            strayEvents: Int(stats.stray_events), watchedSockets: Int(stats.watched_sockets))
    }

    /// The next finished transfer (found through its easy handle's `CURLOPT_PRIVATE` pointer)
    /// and its error, if any.
    func nextFinished() -> (transfer: Transfer, error: TransferError?)? {
        var remaining: Int32 = 0
        while let message = curl_multi_info_read(handle, &remaining) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
            var owner: UnsafeMutableRawPointer? = nil
            guard pellet_curl_easy_getinfo_private(easy, &owner) == CURLE_OK, let owner else { continue }
            let transfer = Unmanaged<Transfer>.fromOpaque(owner).takeUnretainedValue()
            let code = pellet_curl_msg_result(message)
            if code == CURLE_OK {
                return (transfer, nil)
            }
            return (transfer, TransferError(curlCode: code, detail: transfer.easy?.errorDetail ?? ""))
        }
        return nil
    }

    private func check(_ code: CURLMcode, _ context: String) throws(TransferError) {
        if code != CURLM_OK {
            throw TransferError(multiCode: code, context: context)
        }
    }
}

/// What the provider thread's readiness loop has done since the engine started: for tests and
/// measurements (each figure is a count of calls, mostly of system calls).
public struct ReactorStatistics: Sendable, Hashable {
    /// `epoll_wait` calls.
    public var waits: Int
    /// `curl_multi_socket_action` calls for a ready socket.
    public var socketActions: Int
    /// `curl_multi_socket_action` calls for libcurl's timeout step.
    public var timerActions: Int
    /// `epoll_ctl` calls: a reused connection's socket stays registered while idle, so a steady
    /// stream of transfers over kept-alive connections makes none.
    public var registrations: Int
    /// Readiness of a socket libcurl was no longer watching (an idle connection the server
    /// closed, a paused transfer's socket), which then leaves the epoll.
    public var strayEvents: Int
    /// Sockets libcurl watches now.
    public var watchedSockets: Int
}
