import PelletLoadKit
import PelletServer
import PelletTesting
import PelletWire
import XCTest

/// What the `pellet-load rpc` tests share: a real in-process server over its Unix socket and
/// TCP, and the load configuration aimed at it. Subclasses pick the client (`nio` or `lean`).
class RPCLoadTestCase: XCTestCase {
    /// The `--client` the subclass's tests drive.
    var client: String { "nio" }

    func configuration(
        _ server: TestServer,
        method: String = "health",
        tcp: Bool = false,
        connections: Int = 1,
        inFlight: Int = 1,
        rate: Double? = nil,
        duration: Double = 0.5,
        warmup: Double = 0.1
    ) throws -> LoadConfiguration {
        var options = LoadConfiguration.Options(target: (tcp ? server.tcpAddress : server.unixAddress).description)
        options.client = client
        options.method = method
        options.connections = connections
        options.inFlight = inFlight
        options.rate = rate
        options.durationSeconds = duration
        options.warmupSeconds = warmup
        options.apiKey = "pk_load_test_key"
        options.drainSeconds = 5
        return try LoadConfiguration(options: options)
    }

    /// Runs `body` against a fresh server, shut down gracefully afterwards whatever happens.
    func withServer(
        services: [PelletWire.Method: any Service] = [:],
        _ body: (TestServer) async throws -> Void
    ) async throws {
        let server = try await TestServer.start(services: services)
        do {
            try await body(server)
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
    }
}
