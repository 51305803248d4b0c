import NIOCore
import PelletStore
import PelletWire
import Synchronization

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
    private let encodedModels = EncodedModelRows()

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
            HealthReply(
                encodedModels: encodedModels.bytes(of: models()),
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
                cluster: cluster()
            )
        )
    }
}

/// Health's `models` rows, encoded again only when they change: they are most of a Health
/// answer's bytes (a row per catalogue pair) and change rarely, while Health may be asked often.
final class EncodedModelRows: Sendable {
    private let last = Mutex<(rows: [ModelAvailability], bytes: ByteBuffer)?>(nil)

    /// The `models` field of a HealthResponse holding `rows`. Unchanged rows are usually the
    /// very array encoded last time (``ModelDiscovery/healthRows()`` keeps it), which `==`
    /// recognises without comparing the rows.
    func bytes(of rows: [ModelAvailability]) -> ByteBuffer {
        if let cached = last.withLock({ $0 }), cached.rows == rows { return cached.bytes }
        var buffer = ByteBuffer()
        // Every other field is empty, so this is the `models` field alone.
        HealthResponse(models: rows).encode(into: &buffer)
        last.withLock { $0 = (rows, buffer) }
        return buffer
    }
}

/// A HealthResponse whose `models` field comes already encoded. `models` has the highest field
/// number (20) and protobuf-c writes fields in number order, so the other fields' encoding
/// followed by these bytes is exactly the encoding of the whole message.
struct HealthReply: WireMessage {
    var rest: HealthResponse
    var encodedModels: ByteBuffer

    init() {
        self.rest = HealthResponse()
        self.encodedModels = ByteBuffer()
    }

    /// `rest` without its `models`.
    init(
        encodedModels: ByteBuffer, version: String, uptimeMs: UInt64, inFlight: UInt32, providers: [ProviderHealth],
        gatewayOverheadP50Us: UInt64, gatewayOverheadP99Us: UInt64, gatewayOverheadCalls: UInt64,
        storeMapUsedBytes: UInt64, storeMapSizeBytes: UInt64, completeRefused: String, connections: UInt32,
        cluster: ClusterHealth?
    ) {
        self.rest = HealthResponse(
            version: version, uptimeMs: uptimeMs, inFlight: inFlight, providers: providers,
            gatewayOverheadP50Us: gatewayOverheadP50Us, gatewayOverheadP99Us: gatewayOverheadP99Us,
            gatewayOverheadCalls: gatewayOverheadCalls, storeMapUsedBytes: storeMapUsedBytes,
            storeMapSizeBytes: storeMapSizeBytes, completeRefused: completeRefused, connections: connections,
            cluster: cluster)
        self.encodedModels = encodedModels
    }

    /// A whole HealthResponse (models in `rest`): only replies are built from the parts.
    init(decoding bytes: UnsafeRawBufferPointer) throws(MessageDecodingError) {
        self.rest = try HealthResponse(decoding: bytes)
        self.encodedModels = ByteBuffer()
    }

    func encode(into buffer: inout ByteBuffer) {
        rest.encode(into: &buffer)
        buffer.writeImmutableBuffer(encodedModels)
    }
}
