import Logging
import NIOCore
import NIOPosix
import PelletStore
import PostgresNIO
import Synchronization

/// Cluster mode (DESIGN.md section 5): this node's link to the cluster's PostgreSQL.
///
/// Accounts and keys are written to PostgreSQL first (``accounts``) and applied to every
/// node's LMDB copy by the ``feed``; authentication keeps reading the local copy, so it goes on
/// while the database is away. The driver runs on an event loop of its own, never on one that
/// serves calls.
public final class Cluster: Sendable {
    public let accounts: ClusterAccounts
    public let feed: ChangeFeed
    public let url: DatabaseURL
    private let client: PostgresClient
    private let group: MultiThreadedEventLoopGroup

    private let shipper: MeteringShipper?
    /// This node's shares of the accounts' budgets (when metering is given).
    private let budgetLeases: BudgetLeases?
    /// This node's shares of the accounts' rate limits, for the Complete service.
    public let rateLeases: any RateLeasing
    private let rates: RateLeases
    private let housekeeping: ClusterHousekeeping
    /// Keys' last uses, exchanged with the other nodes.
    private let keyUses: KeyUseSync
    private let metering: Metering?
    private let logger: Logger
    /// The Usage call's reads from the database, when metering is shipped there.
    public let usage: ClusterUsage?

    /// `metering`, opened with its outbox, is shipped to the database (nil: metering stays
    /// local); its budgets are shared with the other nodes through leases. `leaseTTL`: how long
    /// a budget lease lasts unrenewed before other nodes may take back its unused part.
    /// `keyUseInterval`: how often the keys' last uses are reported and read (``KeyUseSync``).
    public init(
        url: DatabaseURL, store: Store, metering: Metering? = nil, leaseTTL: Duration = .seconds(30),
        keyUseInterval: Duration = .seconds(5), logger: Logger,
        accountDeleted: @escaping @Sendable (String) -> Void
    ) throws {
        self.url = url
        self.logger = logger
        let nodeID = try NodeIdentity.load(dataDirectory: store.configuration.dataDirectory)
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        client = PostgresClient(configuration: url.clientConfiguration, eventLoopGroup: group, backgroundLogger: logger)
        feed = try ChangeFeed(client: client, store: store, logger: logger, accountDeleted: accountDeleted)
        accounts = ClusterAccounts(client: client, store: store, feed: feed, logger: logger)
        rates = RateLeases(client: client, logger: logger)
        rateLeases = rates
        if let metering {
            let clock = store.configuration.now
            let leases = BudgetLeases(
                client: client, nodeID: nodeID, settings: BudgetLeases.Settings(ttl: leaseTTL), logger: logger,
                currentMonth: { UsageCalendar.month(unixMs: clock()) },
                committed: { account in
                    (try? metering.budgetStanding(accountID: account)).map { $0.spentMicroUSD &+ $0.reservedMicroUSD }
                })
            metering.useBudgetLeases(leases)
            budgetLeases = leases
        } else {
            budgetLeases = nil
        }
        self.metering = metering
        housekeeping = ClusterHousekeeping(
            client: client, databaseReachable: { [feed] in feed.isConnected }, logger: logger,
            retentionDays: metering?.retentionDays ?? Metering.defaultRetentionDays)
        keyUses = KeyUseSync(
            client: client, store: store, databaseReachable: { [feed] in feed.isConnected }, logger: logger,
            interval: keyUseInterval)
        if let metering, metering.hasOutbox {
            shipper = MeteringShipper(client: client, metering: metering, feed: feed, logger: logger)
            usage = ClusterUsage(client: client, store: store, metering: metering, logger: logger)
        } else {
            shipper = nil
            usage = nil
        }
    }

    /// How long stopping may take before the parts still running are logged.
    static let slowStopWarning = Duration.seconds(3)

    /// Metering events shipped to the database since start-up.
    public var shippedEvents: Int { shipper?.shippedCount ?? 0 }

    /// Metering events discarded since start-up instead of shipped: older than the retention.
    public var discardedEvents: Int { shipper?.discardedCount ?? 0 }

    /// Whether the change feed is connected to the database (and caught up since).
    public var isConnected: Bool { feed.isConnected }

    /// The sequence of the last account or key change in this node's copy.
    public var appliedSequence: Int64 { feed.appliedSequence }

    /// Metering events waiting in this node's outbox to be shipped (nil: it cannot be read).
    public var outboxDepth: Int? {
        guard let metering, metering.hasOutbox else { return 0 }
        return try? metering.outboxDepth()
    }

    /// Runs the driver, the change feed, the shipper, the housekeeping, the exchange of keys'
    /// last uses and the renewal of the budget leases until the task is cancelled (then the leases' unused parts are handed
    /// back), then closes the connections and stops the driver's event loop.
    public func run() async {
        // The driver runs outside the cancelled task tree and stops only after the feed and the
        // shipper have: a query or a wait for a connection in progress when pelletd stops must
        // find the pool still running (a lease from a stopped pool waits forever, and so would
        // shutdown).
        let client = self.client
        let running = RunningParts()
        let driver = Task { await running.track("driver") { await client.run() } }
        let (rates, housekeeping, feed, logger) = (self.rates, self.housekeeping, self.feed, self.logger)
        let keyUses = self.keyUses
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                if let shipper { group.addTask { await running.track("shipper") { await shipper.run() } } }
                // Stopped, it hands back the unused part of this node's budget leases.
                if let budgetLeases {
                    group.addTask { await running.track("budget leases") { await budgetLeases.run() } }
                }
                group.addTask {
                    while (try? await Task.sleep(for: .seconds(60))) != nil { await rates.deleteOldWindows() }
                }
                group.addTask { await running.track("housekeeping") { await housekeeping.run() } }
                group.addTask { await running.track("key uses") { await keyUses.run() } }
                await running.track("change feed") { await feed.run() }
            }
            driver.cancel()
            await driver.value
        } onCancel: {
            // Stopping takes milliseconds; if it does not, the log says which part holds it up.
            Task {
                try? await Task.sleep(for: Self.slowStopWarning)
                let left = running.names
                if !left.isEmpty {
                    logger.warning(
                        "the cluster link is still stopping", metadata: ["cluster.running": "\(left.joined(separator: ","))"])
                }
            }
        }
        try? await self.group.shutdownGracefully()
    }

    /// Whether this node's data directory ran alone and holds accounts and keys the feed imports
    /// into the database before it follows the cluster (``ClusterImport``).
    public var importsLocalAccounts: Bool { feed.importsLocalAccounts }

    /// ``waitUntilConnected(timeout:)``, but throws at once when the feed stopped for good: the
    /// import of this data directory's accounts was refused (the error says why and what to do).
    public func waitUntilJoined(timeout: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !feed.isConnected {
            if let failure = feed.failure { throw failure }
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// Waits until the feed has caught up once (true) or `timeout` passed (false): at start-up,
    /// so that a node that says "ready" has the accounts and keys the database had.
    public func waitUntilConnected(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !feed.isConnected {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }
}

/// The names of the cluster link's parts still running, for the log line of a slow stop.
private final class RunningParts: Sendable {
    private let parts = Mutex<[String]>([])

    var names: [String] { parts.withLock { $0 } }

    func track(_ name: String, _ body: () async -> Void) async {
        parts.withLock { $0.append(name) }
        await body()
        parts.withLock { parts in parts.removeAll { $0 == name } }
    }
}
