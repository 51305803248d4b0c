import ArgumentParser
import Foundation
import Logging
import PelletCluster
import PelletProviders
import PelletRouter
import PelletServer
import PelletStore
import PelletWire
import Synchronization

@main
struct Pelletd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pelletd",
        abstract: "The Pellet LLM routing gateway server.",
        discussion: """
            Listens on a Unix socket and on TCP for the Pellet binary RPC (Protos/PROTOCOL.md). \
            SIGTERM or SIGINT shuts down gracefully: no new calls, calls in flight finish within \
            the grace period. SIGHUP reloads the TLS certificate and key for new connections, and the \
            catalogue (--catalogue) and provider keys (--env-file) for new calls.
            """
    )

    @Option(help: "Directory for the database, the admin token and the default socket.")
    var dataDir = "./pellet-data"

    @Option(help: "Unix socket path (default: <data-dir>/pellet.sock); 'off' disables it.")
    var unix: String?

    @Option(
        help: ArgumentHelp(
            "Group of the Unix socket (mode 0660: the owner and this group may connect); default: pelletd's group.",
            valueName: "name"
        )
    )
    var unixGroup: String?

    @Option(help: "TCP address HOST:PORT to listen on; 'off' disables it.")
    var tcp = "127.0.0.1:7400"

    @Option(help: ArgumentHelp("PEM certificate (then any intermediates): TLS on the TCP listener.", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("PEM private key of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    @Option(
        help: ArgumentHelp(
            "PEM CA: mutual TLS, every TCP client must present a certificate it signed.", valueName: "file")
    )
    var tlsClientCa: String?

    @Option(
        help: ArgumentHelp(
            "With --tls-client-ca: the client certificates allowed, by subject CN, DNS SAN or URI SAN (a SPIFFE id); comma-separated, repeatable.",
            valueName: "names")
    )
    var tlsAllowedNames: [String] = []

    /// `--tls-allowed-names`, split at commas.
    private var allowedClientNames: Set<String> {
        Set(tlsAllowedNames.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    @Option(
        help: """
            HOST:PORT of the operators' HTTP listener (/metrics, /livez, /readyz; no credentials, \
            never the RPC); 'off' disables it.
            """
    )
    var metricsListen = "127.0.0.1:9464"

    @Option(help: "Largest frame payload accepted, in bytes.")
    var maxFrameBytes = 4 << 20

    @Option(help: "Deadline of a call that does not set its own timeout, in ms.")
    var defaultTimeoutMs = 60_000

    @Option(help: "Calls in flight allowed on one connection.")
    var maxCallsPerConnection = 1024

    @Option(help: "Connections open at once, Unix and TCP together; one more gets GOAWAY RESOURCE_EXHAUSTED.")
    var maxConnections = 10_000

    @Option(
        help: """
            The most connections open at once to one provider. An https provider multiplexes \
            calls over HTTP/2 on few connections; a plain-HTTP one (HTTP/1.1, e.g. a self-hosted \
            server) takes one connection per call in flight, and calls beyond this wait for one.
            """
    )
    var providerMaxConnections = 1_024

    @Option(help: "A new connection's preface, and any frame once begun, must arrive whole within this, in ms; 0: no limit.")
    var handshakeTimeoutMs = 5_000

    @Option(help: "A connection with no call in flight that sends nothing for this long is closed, in ms; 0: never.")
    var idleTimeoutMs = 600_000

    @Option(help: "On SIGTERM/SIGINT, how long calls in flight may take to finish, in ms.")
    var shutdownGraceMs = 10_000

    @Option(help: "A file holding the admin token (when PELLET_ADMIN_TOKEN is not set).")
    var adminTokenFile: String?

    @Option(
        help: """
            Most the database may grow to, in bytes (default 8 TiB: a reservation of address space, \
            not of disk; the file grows only as it is written, about 424 bytes per Complete call kept).
            """
    )
    var mapSize = StoreConfiguration.defaultMapSizeBytes

    @Option(
        help: """
            batched (the default): every answered write is committed to the data file before the \
            answer, so it survives kill -9 of pelletd; the file is synced every \
            --flush-interval-ms, so a power loss or kernel crash may lose at most that last \
            interval. full: every answered write is synced to disk before the answer, even \
            surviving power loss, at the cost of an fsync per group commit.
            """
    )
    var durability: DurabilityMode = .batched

    @Option(help: "How often batched durability syncs the data file to disk, in ms.")
    var flushIntervalMs = 5

    @Option(
        help: """
            How many days of request records and daily usage counters to keep, today included; \
            also the longest range one Usage call covers. Monthly billing totals are kept while the \
            account lives.
            """
    )
    var retentionDays = Metering.defaultRetentionDays

    @Option(
        help: """
            After an account deletion or a retention sweep that deleted rows, data.mdb is \
            compacted so that the deleted bytes leave it: at once, or when this many hours have \
            passed since the last automatic compaction (at most one per interval).
            """
    )
    var compactIntervalHours = 24

    @Option(
        name: .customLong("provider-url"),
        help: "NAME=URL: send the provider's calls to URL instead of its public API (repeatable)."
    )
    var providerURLs: [String] = []

    @Option(
        help: """
            The max_tokens sent to the provider when a Complete request sets none; the call's budget \
            reservation covers it.
            """
    )
    var defaultMaxTokens = Int(CompleteSettings.standardDefaultMaxTokens)

    @Option(help: "A provider that sends nothing for this long after the request fails over, in ms.")
    var firstTokenTimeoutMs = 20_000

    @Option(help: "A stream that goes quiet for this long fails over (before its first token) or ends, in ms.")
    var streamIdleTimeoutMs = 30_000

    @Option(
        help: ArgumentHelp(
            """
            How often each provider's model list is read (at start-up, then at this interval): \
            a catalogue model the provider no longer lists is not routed to it. Seconds, or with \
            a unit: 500ms, 30s, 10m; 'off' disables discovery.
            """,
            valueName: "duration"
        )
    )
    var discoveryInterval = DiscoveryInterval.every(.seconds(600))

    @Option(
        help: """
            A model catalogue (JSON) to use instead of the built-in one; it may define further \
            OpenAI-compatible providers. Read again on SIGHUP and `pelletctl catalogue reload`.
            """
    )
    var catalogue: String?

    @Option(
        help: ArgumentHelp(
            """
            Provider keys as KEY=VALUE lines (e.g. TOGETHER_API_KEY=...), over the environment's; \
            read again on SIGHUP and `pelletctl catalogue reload`, so keys rotate without a restart.
            """,
            valueName: "file")
    )
    var envFile: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    @Option(help: "pelletd's own log on stderr: text, or json (one object a line).")
    var logFormat: LogFormat = .text

    @Option(
        help: """
            One JSON line per finished call (time, request_id, method, status, duration, account, \
            key, model, provider, tokens, cost; never any text of a call): stderr, a FILE \
            (appended to, mode 0600), or off.
            """
    )
    var accessLog = "off"

    @Option(
        help: ArgumentHelp(
            """
            Cluster mode: the PostgreSQL every pelletd of the cluster shares \
            (postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE; also PELLET_DATABASE_URL). Accounts \
            and keys are written there and copied to each node's store.
            """,
            valueName: "url")
    )
    var databaseUrl: String?

    @Option(
        help: """
            Cluster mode: how long this node's lease on a share of an account's budget lasts \
            without renewal (renewed every second), in ms. A node that dies keeps the unused \
            part of its shares from the other nodes this long.
            """
    )
    var clusterLeaseTtlMs = 30_000

    /// --database-url, else PELLET_DATABASE_URL, parsed; nil: this pelletd works alone.
    private var clusterURL: DatabaseURL? {
        get throws {
            guard let text = databaseUrl ?? ProcessInfo.processInfo.environment["PELLET_DATABASE_URL"], !text.isEmpty
            else { return nil }
            return try DatabaseURL(parsing: text)
        }
    }

    func validate() throws {
        guard maxFrameBytes >= 1024 else { throw ValidationError("--max-frame-bytes must be at least 1024") }
        guard defaultTimeoutMs > 0 else { throw ValidationError("--default-timeout-ms must be positive") }
        guard maxCallsPerConnection > 0 else { throw ValidationError("--max-calls-per-connection must be positive") }
        guard maxConnections > 0 else { throw ValidationError("--max-connections must be positive") }
        guard providerMaxConnections > 0 else {
            throw ValidationError("--provider-max-connections must be positive")
        }
        guard handshakeTimeoutMs >= 0 else { throw ValidationError("--handshake-timeout-ms must be 0 or more") }
        guard idleTimeoutMs >= 0 else { throw ValidationError("--idle-timeout-ms must be 0 or more") }
        guard mapSize >= 1 << 20 else { throw ValidationError("--map-size must be at least 1 MiB") }
        guard flushIntervalMs > 0 else { throw ValidationError("--flush-interval-ms must be positive") }
        guard retentionDays >= 1 else { throw ValidationError("--retention-days must be at least 1") }
        guard (1...1_000_000).contains(defaultMaxTokens) else {
            throw ValidationError("--default-max-tokens must be between 1 and 1000000")
        }
        guard (1...8_760).contains(compactIntervalHours) else {
            throw ValidationError("--compact-interval-hours must be from 1 to 8760")
        }
        if tcp != "off" { _ = try parseTCP(tcp) }
        if metricsListen != "off" { _ = try parseTCP(metricsListen, flag: "--metrics-listen") }
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ValidationError("--tls-cert and --tls-key go together: give both or neither")
        }
        if tlsClientCa != nil, tlsCert == nil {
            throw ValidationError("--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS)")
        }
        if !tlsAllowedNames.isEmpty, tlsClientCa == nil {
            throw ValidationError("--tls-allowed-names needs --tls-client-ca: only mutual TLS has client names")
        }
        if tlsCert != nil, tcp == "off" {
            throw ValidationError("--tls-cert is for the TCP listener, and --tcp is off")
        }
        if tcp == "off", unix == "off" {
            throw ValidationError("both --unix and --tcp are off: nothing to listen on")
        }
        for override in providerURLs {
            do {
                _ = try ProviderURLOverride(parsing: override)
            } catch {
                throw ValidationError("--provider-url: \(error)")
            }
        }
        do {
            _ = try clusterURL
        } catch {
            throw ValidationError("\(error)")
        }
        guard (1_000...3_600_000).contains(clusterLeaseTtlMs) else {
            throw ValidationError("--cluster-lease-ttl-ms must be from 1000 to 3600000")
        }
        guard firstTokenTimeoutMs > 0, streamIdleTimeoutMs > 0 else {
            throw ValidationError("--first-token-timeout-ms and --stream-idle-timeout-ms must be positive")
        }
    }

    func run() async throws {
        let level = logLevel
        let format = logFormat
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                return JSONLogHandler(label: label, logLevel: level)
            }
        }
        let logger = Logger(label: "pelletd")
        raiseFileDescriptorLimit(logger: logger)

        // Provider keys come from the environment (and --env-file) only and are never logged.
        let sources = CatalogueSources(
            cataloguePath: catalogue, environmentFile: envFile,
            overrides: providerURLs.compactMap { try? ProviderURLOverride(parsing: $0) })
        let initialSetup: CatalogueSetup
        do {
            initialSetup = try sources.load()
        } catch {
            throw StartupFailure("cannot use the catalogue or the provider keys: \(error)")
        }
        let live = LiveCatalogue(initialSetup)
        let socketGroup = try unixGroup.map(Self.groupID)
        try createDataDirectory()
        // The store first: it takes the data directory's lock, so a second pelletd on the same
        // directory stops here, before it touches anything in it.
        let store: Store
        do {
            store = try Store(
                configuration: StoreConfiguration(
                    dataDirectory: dataDir,
                    mapSizeBytes: mapSize,
                    durability: durability.storeDurability,
                    batchedFlushInterval: .milliseconds(flushIntervalMs)
                ),
                logger: Logger(label: "pellet.store")
            )
        } catch {
            throw StartupFailure("cannot open the store: \(error)")
        }
        defer { store.close() }
        let adminToken = try AdminToken.load(dataDirectory: dataDir, file: adminTokenFile, logger: logger)
        let metering: Metering
        do {
            // In cluster mode each event also goes to the outbox the cluster's shipper empties.
            metering = try await store.openMetering(retentionDays: retentionDays, outbox: clusterURL != nil)
        } catch {
            throw StartupFailure("cannot open the metering tables: \(error)")
        }
        if try clusterURL == nil { Self.warnIfFormerClusterNode(store, logger: logger) }
        let authenticator = Authenticator(store: store, adminToken: adminToken)
        let cluster: Cluster?
        do {
            cluster = try clusterURL.map { url in
                try Cluster(
                    url: url, store: store, metering: metering, leaseTTL: .milliseconds(clusterLeaseTtlMs),
                    logger: Logger(label: "pellet.cluster"),
                    accountDeleted: { metering.forgetAccount(id: $0) })
            }
        } catch {
            throw StartupFailure("cannot start cluster mode: \(error)")
        }
        let clusterLoop = cluster.map { cluster in Task { await cluster.run() } }
        if let cluster, let clusterLoop {
            try await Self.waitForCluster(cluster, loop: clusterLoop, logger: logger)
        }
        let compaction = CompactionScheduler(
            store: store,
            interval: .seconds(3_600 * compactIntervalHours),
            logger: Logger(label: "pellet.store")
        )

        for configuration in initialSetup.directory.configurations.values.sorted(by: { $0.name < $1.name })
        where !configuration.isEnabled {
            logger.notice(
                "provider disabled: \(configuration.apiKeyEnvironmentVariable ?? "its key") is not set",
                metadata: ["provider": "\(configuration.name)"])
        }
        let engine: ProviderEngine
        do {
            engine = try ProviderEngine(
                configuration: EngineConfiguration(maximumConnectionsPerHost: providerMaxConnections), logger: Logger(label: "pellet.providers"))
        } catch {
            throw StartupFailure("cannot start the provider engine: \(error)")
        }
        defer { engine.shutdown() }
        let callLog: AccessLog?
        do {
            callLog = accessLog == "off" ? nil : try AccessLog(path: accessLog)
        } catch {
            throw StartupFailure("\(error)")
        }
        // Lines of calls that finished before shutdown are written before pelletd exits.
        defer { callLog?.close() }
        let metrics = ServerMetrics()
        let completeMetrics = CompleteMetrics(catalogue: initialSetup.catalogue)
        let unsettled = UnsettledCalls()
        let discovery = ModelDiscovery(
            catalogue: initialSetup.catalogue, directory: initialSetup.directory, engine: engine,
            logger: Logger(label: "pellet.discovery"))
        let reloader = CatalogueReloader(
            sources: sources, live: live, discovery: discovery, logger: Logger(label: "pellet.catalogue"))

        var listen: [BindAddress] = []
        let socketPath = unix ?? (dataDir as NSString).appendingPathComponent("pellet.sock")
        if socketPath != "off" { listen.append(.unixDomainSocket(path: socketPath)) }
        if tcp != "off" {
            let (host, port) = try parseTCP(tcp)
            listen.append(.hostname(host, port: port))
        }

        var configuration = PelletServer.Configuration(listen: listen)
        configuration.maxFrameBytes = maxFrameBytes
        configuration.defaultTimeout = .milliseconds(defaultTimeoutMs)
        configuration.maxCallsInFlightPerConnection = maxCallsPerConnection
        configuration.maxConnections = maxConnections
        configuration.handshakeTimeout = handshakeTimeoutMs > 0 ? .milliseconds(handshakeTimeoutMs) : nil
        configuration.idleTimeout = idleTimeoutMs > 0 ? .milliseconds(idleTimeoutMs) : nil
        configuration.shutdownGracePeriod = .milliseconds(shutdownGraceMs)
        configuration.unixSocketGroup = socketGroup
        if let tlsCert, let tlsKey {
            do {
                configuration.tls = try ServerTLS(
                    files: ServerTLS.Files(
                        certificate: tlsCert, privateKey: tlsKey, clientCA: tlsClientCa,
                        allowedNames: allowedClientNames))
            } catch {
                throw StartupFailure("\(error)")
            }
        }
        let tls = configuration.tls

        let server = PelletServer(
            configuration: configuration,
            services: [
                .route: RouteService(live: live, authenticator: authenticator, discovery: discovery),
                .complete: CompleteService(
                    live: live,
                    authenticator: authenticator,
                    metering: metering,
                    // `rate_limit_rpm` is enforced per server, and in cluster mode also across
                    // the nodes.
                    rateLimiter: RateLimiter(),
                    rateLeases: cluster?.rateLeases,
                    engine: engine,
                    discovery: discovery,
                    settings: CompleteSettings(
                        defaultMaxTokens: UInt32(defaultMaxTokens),
                        firstTokenTimeout: .milliseconds(firstTokenTimeoutMs),
                        idleTimeout: .milliseconds(streamIdleTimeoutMs)
                    ),
                    gatewayOverhead: metrics.gatewayOverhead,
                    metrics: completeMetrics,
                    unsettled: unsettled,
                    logger: Logger(label: "pellet.complete")
                ),
                .usage: UsageService(metering: metering, authenticator: authenticator, reads: cluster?.usage),
                .account: AccountService(
                    store: store,
                    metering: metering,
                    authenticator: authenticator,
                    compaction: compaction,
                    reloader: reloader,
                    writes: cluster?.accounts
                ),
                .health: HealthService(
                    metrics: metrics, store: store, providers: { live.current.directory.healthRows() },
                    models: { discovery.healthRows() },
                    cluster: {
                        cluster.map { cluster in
                            ClusterHealth(
                                databaseConnected: cluster.isConnected,
                                appliedSequence: UInt64(clamping: cluster.appliedSequence),
                                outboxEvents: UInt64(clamping: cluster.outboxDepth ?? 0))
                        }
                    }),
            ],
            metrics: metrics,
            accessLog: callLog,
            logger: logger
        )
        do {
            try await server.start()
        } catch {
            throw StartupFailure("\(error)")
        }
        let serving = ServingFlag()
        let metricsServer: MetricsServer?
        var outboxDepth: (@Sendable () -> Int?)?
        if metering.hasOutbox {
            outboxDepth = { @Sendable in try? metering.outboxDepth() }
        }
        var exposition = MetricsExposition(
            server: metrics, complete: completeMetrics, store: store, live: live, discovery: discovery,
            meteringOutbox: outboxDepth)
        if let cluster {
            exposition.clusterLink = { (cluster.isConnected, cluster.discardedEvents) }
        }
        do {
            metricsServer = try await startMetricsServer(exposition, serving: serving, logger: logger)
        } catch {
            await server.shutdown()
            throw StartupFailure("\(error)")
        }
        serving.set(true)
        let signals = try ShutdownSignals { signal in
            if signal == "SIGHUP" {
                // Both: the certificate for new connections, the catalogue and keys for new calls.
                Self.reload(tls, logger: logger)
                _ = reloader.reload(trigger: "SIGHUP")
                return
            }
            logger.info("received \(signal), shutting down gracefully", metadata: ["grace_ms": "\(shutdownGraceMs)"])
            serving.set(false)
            Task { await server.shutdown() }
        }
        // Deletes what the retention has passed now, then every hour.
        let retention = metering.startRetention(compaction: compaction)
        let mapWatch = Task { await Self.watchMapUsage(store, logger: logger) }
        let discoveryLoop = Task { [discoveryInterval] in
            if case .every(let interval) = discoveryInterval { await discovery.run(every: interval) }
        }
        var readyMetadata: Logger.Metadata = [
            "listen": "\(server.boundAddresses.map(\.description).joined(separator: " "))",
            "data_dir": "\(dataDir)",
        ]
        if let metricsServer { readyMetadata["metrics"] = "\(metricsServer.url)" }
        if let cluster { readyMetadata["cluster"] = "\(cluster.url)" }
        if tls != nil { readyMetadata["tcp.tls"] = tlsClientCa == nil ? "tls" : "mutual" }
        logger.info("pelletd \(HealthService.version) ready", metadata: readyMetadata)
        await server.waitUntilShutdown()
        // A sweep stops between two of its short transactions, so none runs on a closed store.
        retention.cancel()
        mapWatch.cancel()
        discoveryLoop.cancel()
        // The feed stops between two of its LMDB transactions, before the store closes.
        if let clusterLoop {
            clusterLoop.cancel()
            // It stops in milliseconds; a link stuck on the database must not keep the process
            // (and a supervisor's restart) waiting. What it had not done is safe: the outbox is
            // in LMDB, and leases not handed back expire.
            if await !Self.finishes(clusterLoop, within: Self.clusterStopLimit) {
                logger.error(
                    "the cluster link did not stop in time; stopping without it",
                    metadata: ["limit": "\(Self.clusterStopLimit)"])
            }
        }
        await retention.value
        // Calls cut off by the grace period settle on their own (a partial stream is charged):
        // the store closes only after their records are written.
        let unsettledLeft = await unsettled.waitUntilSettled(timeout: .seconds(10))
        if unsettledLeft > 0 {
            logger.error(
                "calls had not settled 10 s after shutdown; their metering is lost",
                metadata: ["calls": "\(unsettledLeft)"])
        }
        // A compaction waiting for its window runs now, before the store closes, so that a
        // deletion's bytes never outlive the process by more than the interval.
        await compaction.stop()
        await metricsServer?.shutdown()
        if let dropped = callLog?.droppedLines, dropped > 0 {
            logger.warning("access log lines were dropped: its queue was full", metadata: ["lines": "\(dropped)"])
        }
        withExtendedLifetime(signals) {}
        logger.info("pelletd stopped")
    }
}
