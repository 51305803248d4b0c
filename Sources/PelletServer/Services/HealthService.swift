import NIOCore
import PelletStore
import PelletWire

/// Method 5: the server's version, uptime, calls in flight, provider health, each catalogue
/// pair's availability, the gateway's own overhead on Complete calls, the store's map usage,
/// when Complete is refused because the store cannot take writes, why, and in cluster mode the
/// node's link to the cluster's database. Needs no credentials.
public struct HealthService: Service {
    public static let version = "0.1.0"

    private let metrics: ServerMetrics
    private let providers: @Sendable () -> [ProviderHealth]
    private let models: @Sendable () -> [ModelAvailability]
    private let store: Store?
    private let cluster: @Sendable () -> ClusterHealth?

    /// `models`: each catalogue pair's availability (``ModelDiscovery/healthRows()``);
    /// `cluster`: the node's link to the cluster's database (nil: it works alone).
    public init(
        metrics: ServerMetrics,
        store: Store? = nil,
        providers: @escaping @Sendable () -> [ProviderHealth] = { [] },
        models: @escaping @Sendable () -> [ModelAvailability] = { [] },
        cluster: @escaping @Sendable () -> ClusterHealth? = { nil }
    ) {
        self.metrics = metrics
        self.store = store
        self.providers = providers
        self.models = models
        self.cluster = cluster
    }

    public func handle(_ payload: ByteBuffer, context: CallContext) -> CallOutcome {
        // The request carries only optional credentials, but a payload that is not a
        // HealthRequest is still a caller's bug worth reporting.
        if case .failure(let error) = Result(catching: { () throws(MessageDecodingError) in try HealthRequest(decoding: payload) }) {
            return .failure(RPCError(.invalidArgument, "Health request: \(error.description)"))
        }
        let overhead = metrics.gatewayOverhead.summary()
        let usage = try? store?.mapUsage()
        var completeRefused = ""
        if let store, let refusal = store.writeRefusal {
            // A probe now lets Health see the recovery even when no Complete call comes.
            store.probeWritesIfRefusing()
            completeRefused = RPCError.completeRefused(refusal).message
        }
        return .reply(
            HealthResponse(
                version: Self.version,
                uptimeMs: UInt64(max(0, metrics.uptime.nanoseconds / 1_000_000)),
                inFlight: UInt32(clamping: metrics.callsInFlight),
                providers: providers(),
                gatewayOverheadP50Us: overhead.p50,
                gatewayOverheadP99Us: overhead.p99,
                gatewayOverheadCalls: overhead.count,
                storeMapUsedBytes: usage?.usedBytes ?? 0,
                storeMapSizeBytes: usage?.sizeBytes ?? 0,
                completeRefused: completeRefused,
                connections: UInt32(clamping: metrics.connections),
                models: models(),
                cluster: cluster()
            )
        )
    }
}
