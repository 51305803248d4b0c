import ArgumentParser
import PelletClient
import PelletWire

extension PelletCtl {
    struct Health: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Show whether pelletd is serving, its version, uptime, calls in flight, its own overhead on Complete calls, "
                + "how full its store is, whether Complete is refused (and why), provider health and, in cluster mode, "
                + "its link to the cluster's database."
        )

        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            let client = try await options.connect()
            let health: HealthResponse
            do {
                health = try await client.health(timeout: options.timeout)
            } catch {
                await client.close()
                throw error
            }
            await client.close()
            if options.json {
                try Output.printJSON(HealthReport(health))
            } else {
                print(Self.text(health), terminator: "")
            }
        }

        /// The labels form an 11-character column; provider names and states line up in columns
        /// of their own, at least 11 and 9 wide.
        static func text(_ health: HealthResponse) -> String {
            var lines = [
                "status     SERVING",
                "version    \(health.version)",
                "uptime     \(Output.uptime(milliseconds: health.uptimeMs))",
                "in flight  \(health.inFlight)",
                "overhead   \(overhead(health))",
                "store      \(store(health))",
                "complete   \(health.completeRefused.isEmpty ? "served" : "REFUSED: " + health.completeRefused)",
            ]
            if let cluster = health.cluster { lines.append("cluster    \(Self.cluster(cluster))") }
            guard !health.providers.isEmpty else {
                lines.append("providers  none")
                return lines.joined(separator: "\n") + "\n"
            }
            lines.append("providers  \(health.providers.count)")
            let nameWidth = max(11, (health.providers.map(\.name.count).max() ?? 0) + 2)
            let stateWidth = max(9, (health.providers.map(\.state.count).max() ?? 0) + 2)
            for provider in health.providers {
                let errorRate =
                    provider.errorRate.isFinite ? Output.oneDecimal(Double(provider.errorRate) * 100) + "%" : "n/a"
                lines.append(
                    "  " + Output.padded(provider.name, to: nameWidth) + Output.padded(provider.state, to: stateWidth)
                        + "err \(errorRate)  p50 \(provider.latencyP50Ms) ms"
                )
            }
            return lines.joined(separator: "\n") + "\n"
        }

        /// "12.0 MiB of the 8.0 TiB map used (0.0%)".
        static func store(_ health: HealthResponse) -> String {
            guard health.storeMapSizeBytes > 0 else { return "not reported" }
            let percent = Double(health.storeMapUsedBytes) / Double(health.storeMapSizeBytes) * 100
            return "\(Output.size(bytes: health.storeMapUsedBytes)) of the "
                + "\(Output.size(bytes: health.storeMapSizeBytes)) map used (\(Output.oneDecimal(percent))%)"
        }

        /// "database connected, change 42 applied, outbox empty", or with the database away
        /// "DATABASE UNREACHABLE, change 42 applied, 17 metering events waiting in the outbox".
        static func cluster(_ cluster: ClusterHealth) -> String {
            let outbox =
                switch cluster.outboxEvents {
                case 0: "outbox empty"
                case 1: "1 metering event waiting in the outbox"
                default: "\(cluster.outboxEvents) metering events waiting in the outbox"
                }
            return (cluster.databaseConnected ? "database connected" : "DATABASE UNREACHABLE")
                + ", change \(cluster.appliedSequence) applied, \(outbox)"
        }

        /// "p50 84 µs  p99 310 µs  (1200 calls in the last minute)".
        static func overhead(_ health: HealthResponse) -> String {
            guard health.gatewayOverheadCalls > 0 else { return "no Complete calls in the last minute" }
            let calls = health.gatewayOverheadCalls == 1 ? "1 call" : "\(health.gatewayOverheadCalls) calls"
            return "p50 \(health.gatewayOverheadP50Us) µs  p99 \(health.gatewayOverheadP99Us) µs  "
                + "(\(calls) in the last minute)"
        }
    }
}

/// `pelletctl health --json`: the HealthResponse with snake_case keys.
private struct HealthReport: Encodable {
    struct Provider: Encodable {
        var name: String
        var state: String
        /// A fraction from 0 to 1; null when the server sent something that is not a number.
        var errorRate: Double?
        var latencyP50Ms: UInt32

        init(_ provider: ProviderHealth) {
            name = provider.name
            state = provider.state
            // Through the shortest decimal text, so that 0.02 prints as 0.02, not 0.0199999995529651.
            errorRate = provider.errorRate.isFinite ? Double("\(provider.errorRate)") : nil
            latencyP50Ms = provider.latencyP50Ms
        }

        enum CodingKeys: String, CodingKey {
            case name, state
            case errorRate = "error_rate"
            case latencyP50Ms = "latency_p50_ms"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(state, forKey: .state)
            try container.encode(errorRate, forKey: .errorRate)
            try container.encode(latencyP50Ms, forKey: .latencyP50Ms)
        }
    }

    var version: String
    var uptimeMs: UInt64
    var inFlight: UInt32
    var gatewayOverheadP50Us: UInt64
    var gatewayOverheadP99Us: UInt64
    var gatewayOverheadCalls: UInt64
    var storeMapUsedBytes: UInt64
    var storeMapSizeBytes: UInt64
    /// Empty while Complete is served.
    var completeRefused: String
    var providers: [Provider]
    /// Only in cluster mode (the key is absent when the node works alone).
    var cluster: Cluster?

    struct Cluster: Encodable {
        var databaseConnected: Bool
        var appliedSequence: UInt64
        var outboxEvents: UInt64

        enum CodingKeys: String, CodingKey {
            case databaseConnected = "database_connected"
            case appliedSequence = "applied_sequence"
            case outboxEvents = "outbox_events"
        }
    }

    init(_ health: HealthResponse) {
        version = health.version
        uptimeMs = health.uptimeMs
        inFlight = health.inFlight
        gatewayOverheadP50Us = health.gatewayOverheadP50Us
        gatewayOverheadP99Us = health.gatewayOverheadP99Us
        gatewayOverheadCalls = health.gatewayOverheadCalls
        storeMapUsedBytes = health.storeMapUsedBytes
        storeMapSizeBytes = health.storeMapSizeBytes
        completeRefused = health.completeRefused
        providers = health.providers.map(Provider.init)
        cluster = health.cluster.map {
            Cluster(databaseConnected: $0.databaseConnected, appliedSequence: $0.appliedSequence, outboxEvents: $0.outboxEvents)
        }
    }

    enum CodingKeys: String, CodingKey {
        case version
        case uptimeMs = "uptime_ms"
        case inFlight = "in_flight"
        case gatewayOverheadP50Us = "gateway_overhead_p50_us"
        case gatewayOverheadP99Us = "gateway_overhead_p99_us"
        case gatewayOverheadCalls = "gateway_overhead_calls"
        case storeMapUsedBytes = "store_map_used_bytes"
        case storeMapSizeBytes = "store_map_size_bytes"
        case completeRefused = "complete_refused"
        case providers
        case cluster
    }
}
