import Logging
import PelletProviders
import PelletMockProvider

/// Three in-process mock providers (together, fireworks, groq) for a real pelletd: the
/// `--provider-url` arguments that point pelletd at them, and the environment that enables them
/// (a provider key for each, plus the admin token).
struct MockProviders {
    let servers: [MockServer]
    let arguments: [String]

    static func start(_ behavior: MockBehavior) async throws -> MockProviders {
        var servers: [MockServer] = []
        var arguments: [String] = []
        for name in ["together", "fireworks", "groq"] {
            var configuration = MockConfiguration()
            configuration.name = name
            configuration.threads = 1
            configuration.behavior = behavior
            let server = try await MockServer.start(configuration)
            servers.append(server)
            arguments += ["--provider-url", "\(name)=\(server.baseURL)"]
        }
        return MockProviders(servers: servers, arguments: arguments)
    }

    static func environment(adminToken: String) -> [String: String] {
        [
            "PELLET_ADMIN_TOKEN": adminToken, "TOGETHER_API_KEY": "mock", "FIREWORKS_API_KEY": "mock",
            "GROQ_API_KEY": "mock",
        ]
    }

    /// Stops the mocks in the background (from a `defer`).
    func shutdownLater() {
        let stopping = servers
        Task { for server in stopping { try? await server.shutdown() } }
    }
}

extension ProviderEngine {
    /// An engine of the test's own, to drive the mocks' control endpoints (`MockControl`), that
    /// logs nothing below critical.
    static func quietForControl() throws -> ProviderEngine {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try ProviderEngine(logger: logger)
    }
}
