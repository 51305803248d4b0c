/// Settings of the ``ProviderEngine``.
public struct EngineConfiguration: Sendable, Hashable {
    /// The limit on establishing a connection (TCP and TLS), `CURLOPT_CONNECTTIMEOUT_MS`.
    public var connectTimeout: Duration
    /// The longest the provider thread sleeps in `epoll_wait` when nothing happens. Commands
    /// wake it at once (an eventfd in the same epoll), and libcurl's own timeouts and the
    /// watchdog's set shorter waits, so this only bounds how late a housekeeping check can be;
    /// it does not add latency.
    public var maximumPollInterval: Duration
    /// Idle connections libcurl keeps open for reuse (`CURLMOPT_MAXCONNECTS`); 0 = libcurl's
    /// default, which is 4 × the transfers running at that moment: with HTTP/1.1 (one connection
    /// per concurrent transfer) it closes connections whenever the load dips, and the next calls
    /// pay a new TCP connection each (measured: 1 call in 17 at 8 in flight against the mock).
    public var maximumIdleConnections: Int
    /// The most connections open at once to one provider (`CURLMOPT_MAX_HOST_CONNECTIONS`, per
    /// host and port); transfers beyond it wait in libcurl for a free connection. Over HTTP/2
    /// (https providers) transfers multiplex on one connection, waiting for it while it is set
    /// up (`CURLOPT_PIPEWAIT`); a plain-HTTP provider (HTTP/1.1: a self-hosted server, the mock)
    /// gets a connection per concurrent transfer, up to this limit. 0 = no limit.
    public var maximumConnectionsPerHost: Int
    /// The `User-Agent` header.
    public var userAgent: String
    /// A PEM file of CA certificates to trust instead of the system's (`CURLOPT_CAINFO`): for a
    /// TLS-intercepting proxy, or a test server with its own certificate. Nil: the system's.
    public var caCertificatesPath: String?
    /// What the provider thread sleeps in between transfers' events.
    public var readinessLoop: ReadinessLoop

    /// The provider thread's readiness loop (`PelletReactor.c`).
    public enum ReadinessLoop: Sendable, Hashable {
        /// The thread's own epoll driving `curl_multi_socket_action`, on Linux; libcurl's own
        /// poll loop where there is no epoll.
        case epoll
        /// libcurl's own loop (`curl_multi_perform`, `curl_multi_poll`, `curl_multi_wakeup`), on
        /// every platform: what runs where there is no epoll, selectable on Linux so that its
        /// tests run there too. It polls every socket of every transfer at each step.
        case libcurlPoll
    }

    public init(
        connectTimeout: Duration = .seconds(5),
        maximumPollInterval: Duration = .seconds(1),
        maximumIdleConnections: Int = 256,
        maximumConnectionsPerHost: Int = 1_024,
        userAgent: String = "pellet/1",
        caCertificatesPath: String? = nil,
        readinessLoop: ReadinessLoop = .epoll
    ) {
        self.connectTimeout = connectTimeout
        self.maximumPollInterval = maximumPollInterval
        self.maximumIdleConnections = maximumIdleConnections
        self.maximumConnectionsPerHost = maximumConnectionsPerHost
        self.userAgent = userAgent
        self.caCertificatesPath = caCertificatesPath
        self.readinessLoop = readinessLoop
    }
}

extension Duration {
    /// Whole milliseconds, rounded up so that a positive duration never becomes 0 (which
    /// libcurl reads as "no limit"), clamped to the range of a C `long`/`int` timeout.
    var roundedUpMilliseconds: Int {
        let (seconds, attoseconds) = components
        if seconds < 0 || (seconds == 0 && attoseconds <= 0) { return 0 }
        if seconds >= Int64(Int32.max / 1000) { return Int(Int32.max) }
        let fromAttoseconds = (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int(seconds) * 1000 + Int(fromAttoseconds)
    }
}
