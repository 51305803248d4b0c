import NIOCore
import NIOHTTP1
import NIOPosix

public struct MockConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 lets the kernel pick; `MockServer.port` says which.
    public var port = 0
    /// Echoed in `system_fingerprint` ("mock-NAME"), `x-mock-provider` and the model list's `owned_by`.
    public var name = "mock"
    public var threads = System.coreCount
    /// When set, chat requests without `Authorization: Bearer KEY` get 401.
    public var requiredKey: String?
    /// The flags' behaviour, under every runtime default and per-request control.
    public var behavior = MockBehavior()
    public var maxBodyBytes = 16 << 20
    /// The model list served at `GET /v1/models`; while set, a chat request for a model not on it
    /// gets 404 `model_not_found` (see ``MockModelList``). Nil: every model is served.
    public var models: [String]?
    /// Prices published with `models` (as Together does), by model id.
    public var modelPrices: [String: MockPrice] = [:]

    public init() {}
}

/// What every connection's handler shares.
public struct MockRuntime: Sendable {
    public let configuration: MockConfiguration
    public let stats = MockStats()
    public let defaultBehavior: MockDefaultBehavior
    public let modelList: MockModelList

    init(configuration: MockConfiguration) {
        self.configuration = configuration
        self.defaultBehavior = MockDefaultBehavior(base: configuration.behavior)
        self.modelList = MockModelList(configuration.models, prices: configuration.modelPrices)
    }
}

/// The OpenAI-compatible HTTP/1.1 server. Start it with `start(_:)`, stop it with `shutdown()`.
public final class MockServer: Sendable {
    public let runtime: MockRuntime
    public let host: String
    public let port: Int
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    public var stats: MockStats { runtime.stats }
    /// The served model list, changeable while the server runs.
    public var modelList: MockModelList { runtime.modelList }
    /// The base URL a gateway should be given (`/chat/completions` is appended to it).
    public var baseURL: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)/v1" }

    public static func start(_ configuration: MockConfiguration) async throws -> MockServer {
        let runtime = MockRuntime(configuration: configuration)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.threads))
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MockHTTPHandler(runtime: runtime))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        return MockServer(runtime: runtime, group: group, channel: channel, host: configuration.host,
                          port: channel.localAddress?.port ?? configuration.port)
    }

    private init(runtime: MockRuntime, group: MultiThreadedEventLoopGroup, channel: any Channel, host: String,
                 port: Int) {
        self.runtime = runtime
        self.group = group
        self.channel = channel
        self.host = host
        self.port = port
    }

    /// Returns when the listening socket closes.
    public func waitUntilClosed() async throws {
        try await channel.closeFuture.get()
    }

    /// Closes the listener, then every connection (hung and streaming ones too) with the event loops.
    public func shutdown() async throws {
        try? await channel.close()
        try await group.shutdownGracefully()
    }
}
