import Logging
import NIOCore
import NIOPosix
import PelletClient
import PelletServer
import PelletWire

/// A real server on a temp Unix socket and a TCP port chosen by the kernel, for integration
/// tests. Shut it down with `shutdown()` at the end of the test.
public final class TestServer: Sendable {
    public let server: PelletServer
    public let directory: TemporaryDirectory
    public let socketPath: String
    public let tcpPort: Int

    public static func start(
        services: [Method: any Service] = [:],
        configure: (inout PelletServer.Configuration) -> Void = { _ in }
    ) async throws -> TestServer {
        let directory = try TemporaryDirectory()
        let socketPath = directory.file("pellet.sock")
        var configuration = PelletServer.Configuration(listen: [
            .unixDomainSocket(path: socketPath), .hostname("127.0.0.1", port: 0),
        ])
        configure(&configuration)
        var logger = Logger(label: "pellet.test")
        logger.logLevel = .critical
        let server = PelletServer(configuration: configuration, services: services, logger: logger)
        try await server.start()
        let port = server.boundAddresses.compactMap { address -> Int? in
            if case .hostname(_, let port) = address { return port }
            return nil
        }.first ?? 0
        return TestServer(server: server, directory: directory, socketPath: socketPath, tcpPort: port)
    }

    private init(server: PelletServer, directory: TemporaryDirectory, socketPath: String, tcpPort: Int) {
        self.server = server
        self.directory = directory
        self.socketPath = socketPath
        self.tcpPort = tcpPort
    }

    public var unixAddress: PelletAddress { .unix(path: socketPath) }
    public var tcpAddress: PelletAddress { .tcp(host: "127.0.0.1", port: tcpPort) }
    /// Both transports, for tests that must hold on each.
    public var addresses: [PelletAddress] { [unixAddress, tcpAddress] }

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

    public func shutdown(gracePeriod: Duration = .seconds(2)) async {
        await server.shutdown(gracePeriod: gracePeriod)
    }
}
