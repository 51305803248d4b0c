import Logging
import NIOCore
import PelletClient
import PelletMockProvider
import PelletProviders
import PelletRouter
import PelletServer
import PelletStore
import PelletWire
import Synchronization

/// A service whose implementation is set after the server started: for services that need what
/// `TestServer.start` creates (its metering, rate limiter, store). UNAVAILABLE until set.
public final class LateBoundService: Service, Sendable {
    private let inner = Mutex<(any Service)?>(nil)
    /// Every call's cancellation, weakly: one that outlives its call shows that something still
    /// holds the call (its context holds the cancellation).
    private let cancellations = Mutex<[WeakCancellation]>([])
    public let streams: Bool

    private struct WeakCancellation: @unchecked Sendable {
        // Read and written only under `cancellations`' lock.
        weak var value: CallCancellation?
    }

    /// How many of the calls this service handed on are still in memory.
    public var callsStillInMemory: Int {
        cancellations.withLock { $0.filter { $0.value != nil }.count }
    }

    public init(streams: Bool) {
        self.streams = streams
    }

    public func set(_ service: any Service) {
        inner.withLock { $0 = service }
    }

    public func handle(_ payload: ByteBuffer, context: CallContext) -> CallOutcome {
        guard let service = inner.withLock({ $0 }) else {
            return .failure(RPCError(.unavailable, "the service is not ready yet"))
        }
        cancellations.withLock { $0.append(WeakCancellation(value: context.cancellation)) }
        return service.handle(payload, context: context)
    }
}

/// A `TestServer` whose Route, Complete and Health calls go to three in-process mock providers
/// (together, fireworks, groq, each its own `MockServer`) through a real `ProviderEngine`, with
/// model discovery reading the mocks' lists.
public final class ProviderTestServer: Sendable {
    public let server: TestServer
    /// The Complete service, as the server calls it.
    public let complete: LateBoundService
    public let mocks: [ProviderName: MockServer]
    public let engine: ProviderEngine
    public let directory: ProviderDirectory
    /// Reads the mocks' model lists: at `discoveryInterval` when one was given, else only when a
    /// test calls `refresh()`.
    public let discovery: ModelDiscovery
    private let discoveryLoop: Task<Void, Never>?

    public var store: Store { server.store }
    public var metering: Metering { server.metering }

    public func mock(_ name: ProviderName) -> MockServer {
        mocks[name]!
    }

    /// Starts three mocks (one thread each), the engine and the server. `behavior` is the mocks'
    /// base behaviour (e.g. a small `completionTokens` to keep tests fast); `models`, when set,
    /// each mock's model list (`MockConfiguration.models`).
    public static func start(
        behavior: MockBehavior = MockBehavior(),
        models: [ProviderName: [String]] = [:],
        discoveryInterval: Duration? = nil,
        settings: CompleteSettings = CompleteSettings(),
        breakerConfiguration: CircuitBreakerConfiguration = CircuitBreakerConfiguration(),
        storeConfiguration: (inout StoreConfiguration) -> Void = { _ in }
    ) async throws -> ProviderTestServer {
        var mocks: [ProviderName: MockServer] = [:]
        do {
            for name in ProviderName.builtIn {
                var configuration = MockConfiguration()
                configuration.name = name.rawValue
                configuration.threads = 1
                configuration.behavior = behavior
                configuration.models = models[name]
                mocks[name] = try await MockServer.start(configuration)
            }
        } catch {
            for mock in mocks.values { try? await mock.shutdown() }
            throw error
        }
        let overrides = mocks.map { ProviderURLOverride(name: $0.key, baseURL: $0.value.baseURL) }
        let environment = Dictionary(
            uniqueKeysWithValues: ProviderName.builtIn.map {
                ($0.apiKeyEnvironmentVariable, "test-key-\($0.rawValue)")
            })
        let configurations = ProviderConfiguration.fromEnvironment(environment, overrides: overrides)
        let directory = ProviderDirectory(configurations: configurations, breakerConfiguration: breakerConfiguration)
        var logger = Logger(label: "pellet.test.providers")
        logger.logLevel = .critical
        let engine: ProviderEngine
        do {
            engine = try ProviderEngine(logger: logger)
        } catch {
            for mock in mocks.values { try? await mock.shutdown() }
            throw error
        }
        let complete = LateBoundService(streams: true)
        let health = LateBoundService(streams: false)
        let route = LateBoundService(streams: false)
        let server: TestServer
        do {
            server = try await TestServer.start(
                services: [
                    .complete: complete,
                    .health: health,
                    .route: route,
                ],
                storeConfiguration: storeConfiguration
            )
        } catch {
            engine.shutdown()
            for mock in mocks.values { try? await mock.shutdown() }
            throw error
        }
        let router = Router(catalogue: Catalogue.bundled)
        let authenticator = Authenticator(store: server.store, adminToken: TestServer.adminToken)
        let discovery = ModelDiscovery(
            catalogue: router.catalogue, directory: directory, engine: engine, listTimeout: .seconds(5), logger: logger)
        health.set(
            HealthService(
                metrics: server.server.metrics, store: server.store, providers: { directory.healthRows() },
                models: { discovery.healthRows() }))
        route.set(
            RouteService(
                router: router, authenticator: authenticator,
                health: { directory.routerHealth(unavailableModels: discovery.unavailableModels()) }))
        complete.set(
            CompleteService(
                router: router,
                authenticator: authenticator,
                metering: server.metering,
                rateLimiter: server.rateLimiter,
                engine: engine,
                directory: directory,
                discovery: discovery,
                settings: settings,
                logger: logger
            ))
        let discoveryLoop = discoveryInterval.map { interval in Task { await discovery.run(every: interval) } }
        return ProviderTestServer(
            server: server, complete: complete, mocks: mocks, engine: engine, directory: directory,
            discovery: discovery, discoveryLoop: discoveryLoop)
    }

    private init(
        server: TestServer, complete: LateBoundService, mocks: [ProviderName: MockServer],
        engine: ProviderEngine, directory: ProviderDirectory, discovery: ModelDiscovery,
        discoveryLoop: Task<Void, Never>?
    ) {
        self.server = server
        self.complete = complete
        self.mocks = mocks
        self.engine = engine
        self.directory = directory
        self.discovery = discovery
        self.discoveryLoop = discoveryLoop
    }

    public func client(_ address: PelletAddress? = nil) async throws -> PelletClient {
        try await server.client(address)
    }

    /// The server, then the engine, then the mocks.
    public func shutdown() async {
        discoveryLoop?.cancel()
        await server.shutdown()
        engine.shutdown()
        for mock in mocks.values { try? await mock.shutdown() }
    }
}
