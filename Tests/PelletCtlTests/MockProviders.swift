import PelletMockProvider

/// The three providers as in-process mocks, for a real pelletd: each gets `behavior`, and the
/// `--provider-url` arguments point pelletd at them. Shut them down with `shutdown`.
struct MockProviders {
    let mocks: [MockServer]
    let arguments: [String]

    static func start(behavior: MockBehavior) async throws -> MockProviders {
        var mocks: [MockServer] = []
        var arguments: [String] = []
        for name in ["together", "fireworks", "groq"] {
            var configuration = MockConfiguration()
            configuration.name = name
            configuration.threads = 1
            configuration.behavior = behavior
            let mock = try await MockServer.start(configuration)
            mocks.append(mock)
            arguments += ["--provider-url", "\(name)=\(mock.baseURL)"]
        }
        return MockProviders(mocks: mocks, arguments: arguments)
    }

    /// Without waiting: for a `defer`.
    func shutdown() {
        let stopping = mocks
        Task { for mock in stopping { try? await mock.shutdown() } }
    }
}
