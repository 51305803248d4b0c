import Logging
import NIOCore
import NIOPosix
import PelletClient
import PelletRouter
import PelletServer
import PelletStore
import PelletWire

/// A real server on a temp Unix socket and a TCP port chosen by the kernel, with a real store in
/// the same temp directory, for integration tests. Shut it down with `shutdown()` at the end.
public final class TestServer: Sendable {
    public static let adminToken = "test-admin-token-0123456789abcdef"

    public let server: PelletServer
    public let store: Store
    /// The store's metering, as the Usage and Account services use it: tests record events
    /// straight into it.
    public let metering: Metering
    /// The server's rate limiter, for the services that enforce `rate_limit_rpm`.
    public let rateLimiter: RateLimiter
    public let directory: TemporaryDirectory
    public let socketPath: String
    public let tcpPort: Int

    /// `services` override the defaults (Health, Route, Usage, and Account over the store).
    /// The store's clock (`storeConfiguration`'s `now`) is also the metering's. No retention
    /// task runs: a test enforces the retention when it means to, with
    /// `metering.enforceRetention(now:)`.
    public static func start(
        services: [Method: any Service] = [:],
        directory: TemporaryDirectory? = nil,
        retentionDays: Int = Metering.defaultRetentionDays,
        storeConfiguration: (inout StoreConfiguration) -> Void = { _ in },
        configure: (inout PelletServer.Configuration) -> Void = { _ in }
    ) async throws -> TestServer {
        let directory = try directory ?? TemporaryDirectory()
        var storeSettings = StoreConfiguration(dataDirectory: directory.file("data"), mapSizeBytes: 256 << 20)
        storeConfiguration(&storeSettings)
        let store = try Store(configuration: storeSettings)
        let metering: Metering
        do {
            metering = try await store.openMetering(retentionDays: retentionDays)
        } catch {
            store.close()
            throw error
        }
        let rateLimiter = RateLimiter()
        let authenticator = Authenticator(store: store, adminToken: adminToken)
        var allServices: [Method: any Service] = [
            .route: RouteService(router: Router(catalogue: Catalogue.bundled), authenticator: authenticator),
            .usage: UsageService(metering: metering, authenticator: authenticator),
            .account: AccountService(store: store, metering: metering, authenticator: authenticator),
        ]
        allServices.merge(services) { _, override in override }

        let socketPath = directory.file("pellet.sock")
        var configuration = PelletServer.Configuration(listen: [
            .unixDomainSocket(path: socketPath), .hostname("127.0.0.1", port: 0),
        ])
        configure(&configuration)
        var logger = Logger(label: "pellet.test")
        logger.logLevel = .critical
        let server = PelletServer(configuration: configuration, services: allServices, logger: logger)
        do {
            try await server.start()
        } catch {
            store.close()
            throw error
        }
        let port = server.boundAddresses.compactMap { address -> Int? in
            if case .hostname(_, let port) = address { return port }
            return nil
        }.first ?? 0
        return TestServer(
            server: server,
            store: store,
            metering: metering,
            rateLimiter: rateLimiter,
            directory: directory,
            socketPath: socketPath,
            tcpPort: port
        )
    }

    private init(
        server: PelletServer,
        store: Store,
        metering: Metering,
        rateLimiter: RateLimiter,
        directory: TemporaryDirectory,
        socketPath: String,
        tcpPort: Int
    ) {
        self.server = server
        self.store = store
        self.metering = metering
        self.rateLimiter = rateLimiter
        self.directory = directory
        self.socketPath = socketPath
        self.tcpPort = tcpPort
    }

    public var unixAddress: PelletAddress { .unix(path: socketPath) }
    public var tcpAddress: PelletAddress { .tcp(host: "127.0.0.1", port: tcpPort) }
    /// The TCP port as a TLS address, for a server configured with `tls`.
    public var tlsAddress: PelletAddress { .tls(host: "127.0.0.1", port: tcpPort) }
    /// Both transports, for tests that must hold on each.
    public var addresses: [PelletAddress] { [unixAddress, tcpAddress] }
    public var adminCredentials: Credentials { Credentials(adminToken: Self.adminToken) }

    /// A client connected over `address` (default: the Unix socket).
    public func client(_ address: PelletAddress? = nil) async throws -> PelletClient {
        try await PelletClient.connect(to: address ?? unixAddress)
    }

    /// A byte-level connection that has already exchanged prefaces.
    public func rawConnection(_ address: PelletAddress? = nil) throws -> RawConnection {
        let connection = try RawConnection(address ?? unixAddress)
        try connection.sendPreface()
        _ = try connection.readPreface()
        return connection
    }

    /// Graceful shutdown of the server, then the store is closed.
    public func shutdown(gracePeriod: Duration = .seconds(2)) async {
        await server.shutdown(gracePeriod: gracePeriod)
        store.close()
    }
}
