import PelletProviders
import PelletRouter
import PelletStore
import PelletWire

/// Renders the gateway's figures in the Prometheus text format (version 0.0.4).
///
/// Our own renderer over our own atomics rather than swift-prometheus: its histograms take a
/// lock on every observation (`NIOLockedValueBox` in `Histogram.record`) and its registry a lock
/// and an allocation per lookup, and every Complete call records a dozen figures on its event
/// loop. Reading is the rare side (a scrape every few seconds), so it does the work.
public struct MetricsExposition: Sendable {
    public let server: ServerMetrics
    public let complete: CompleteMetrics?
    public let store: Store?
    /// The providers whose circuits are shown: read at each scrape (a catalogue reload replaces them).
    public let providers: (@Sendable () -> ProviderDirectory)?
    public let discovery: ModelDiscovery?
    /// Cluster mode: the metering events waiting in this node's outbox for the cluster's database.
    public var meteringOutbox: (@Sendable () -> Int?)? = nil
    /// Cluster mode: the link to the cluster's database (whether the change feed is connected,
    /// and the metering events discarded instead of shipped, older than the retention).
    public var clusterLink: (@Sendable () -> (connected: Bool, discardedEvents: Int))? = nil

    public init(
        server: ServerMetrics, complete: CompleteMetrics? = nil, store: Store? = nil, providers: ProviderDirectory? = nil,
        discovery: ModelDiscovery? = nil
    ) {
        self.server = server
        self.complete = complete
        self.store = store
        if let providers {
            self.providers = { providers }
        } else {
            self.providers = nil
        }
        self.discovery = discovery
    }

    /// The circuits of the providers `live` holds at each scrape.
    public init(
        server: ServerMetrics, complete: CompleteMetrics?, store: Store?, live: LiveCatalogue, discovery: ModelDiscovery? = nil,
        meteringOutbox: (@Sendable () -> Int?)? = nil
    ) {
        self.server = server
        self.complete = complete
        self.store = store
        self.providers = { live.current.directory }
        self.discovery = discovery
        self.meteringOutbox = meteringOutbox
    }

    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public func render() -> String {
        var text = PrometheusText()
        text.family("pellet_calls_total", .counter, "RPC calls finished, by method and status.")
        for method in Method.allCases {
            for status in Status.allCases {
                text.sample(
                    "pellet_calls_total", [("method", method.description), ("status", status.name)],
                    server.calls(method, status))
            }
        }
        text.family("pellet_call_duration_seconds", .histogram, "RPC call time, REQUEST read to answer written.")
        for (index, method) in Method.allCases.enumerated() {
            text.histogram("pellet_call_duration_seconds", [("method", method.description)], server.callDurations, series: index)
        }
        text.family("pellet_calls_in_flight", .gauge, "RPC calls started and not yet answered.")
        text.sample("pellet_calls_in_flight", [], UInt64(max(0, server.callsInFlight)))
        text.family("pellet_connections", .gauge, "Open RPC connections, by transport.")
        for transport in ServerMetrics.Transport.allCases {
            text.sample("pellet_connections", [("transport", transport.label)], UInt64(max(0, server.connections(transport))))
        }
        if let complete { render(complete, into: &text) }
        if let providers {
            let directory = providers()
            text.family("pellet_circuit_state", .gauge, "Each provider's circuit: 0 closed, 1 half-open, 2 open.")
            for name in directory.names {
                guard let breaker = directory.breaker(for: name) else { continue }
                text.sample("pellet_circuit_state", [("provider", name.rawValue)], UInt64(breaker.circuitLevel()))
            }
        }
        if let discovery { render(discovery, into: &text) }
        if let store { render(store, into: &text) }
        return text.output
    }

    /// Unknown pairs get no sample rather than a third value: 0 would page an operator for a
    /// provider that is merely disabled (its list is never read), 1 would claim what nobody
    /// checked, and any other number breaks `sum`/`min` over a 0/1 gauge. A pair never returns
    /// to unknown, so a series, once there, stays.
    private func render(_ discovery: ModelDiscovery, into text: inout PrometheusText) {
        text.family(
            "pellet_model_available", .gauge,
            "Whether the provider serves the catalogue model, as model discovery last found: 1 available, "
                + "0 unavailable (not in its model list, or a call was answered model not found; the router skips it). "
                + "A pair still unknown (its provider's list not read yet, the provider disabled, or discovery off) "
                + "has no sample; the router keeps it as a candidate.")
        let entries = discovery.state.entries.sorted {
            ($0.key.provider.rawValue, $0.key.model) < ($1.key.provider.rawValue, $1.key.model)
        }
        for (pair, entry) in entries where entry.state != .unknown {
            text.sample(
                "pellet_model_available", [("provider", pair.provider.rawValue), ("model", pair.model)],
                entry.state == .available ? 1 : 0)
        }
    }

    private func render(_ complete: CompleteMetrics, into text: inout PrometheusText) {
        text.family("pellet_gateway_overhead_seconds", .histogram, "A Complete call's time in the gateway, provider transfers excluded.")
        text.histogram("pellet_gateway_overhead_seconds", [], complete.gatewayOverhead, series: 0)
        text.family("pellet_provider_requests_total", .counter, "Provider attempts, by provider, model and outcome.")
        for (offer, labels) in complete.offers.enumerated() {
            for (outcome, label) in CompleteMetrics.outcomeLabels.enumerated() {
                text.sample(
                    "pellet_provider_requests_total",
                    [("provider", labels.provider), ("model", labels.model), ("outcome", label)],
                    complete.providerRequests[offer * CompleteMetrics.outcomeLabels.count + outcome])
            }
        }
        text.family("pellet_provider_duration_seconds", .histogram, "Each provider attempt's transfer time.")
        for (index, provider) in complete.providers.enumerated() {
            text.histogram("pellet_provider_duration_seconds", [("provider", provider)], complete.providerDurations, series: index)
        }
        text.family("pellet_provider_time_to_first_token_seconds", .histogram, "A provider attempt's start to its first token of text.")
        for (index, provider) in complete.providers.enumerated() {
            text.histogram(
                "pellet_provider_time_to_first_token_seconds", [("provider", provider)], complete.timeToFirstToken, series: index)
        }
        text.family("pellet_tokens_total", .counter, "Tokens charged, by provider, model and kind.")
        for (offer, labels) in complete.offers.enumerated() {
            for (kind, name) in CompleteMetrics.tokenKinds.enumerated() {
                text.sample(
                    "pellet_tokens_total", [("provider", labels.provider), ("model", labels.model), ("kind", name)],
                    complete.tokens[offer * CompleteMetrics.tokenKinds.count + kind])
            }
        }
        text.family("pellet_cost_usd_total", .counter, "Cost charged to accounts, in US dollars.")
        for (offer, labels) in complete.offers.enumerated() {
            text.sample(
                "pellet_cost_usd_total", [("provider", labels.provider), ("model", labels.model)],
                value: Double(complete.costMicroUSD[offer]) / 1_000_000)
        }
        text.family("pellet_budget_refusals_total", .counter, "Complete calls refused by an account's monthly budget.")
        text.sample("pellet_budget_refusals_total", [], complete.refusals[0])
        text.family("pellet_rate_limited_total", .counter, "Complete calls refused by an account's rate limit.")
        text.sample("pellet_rate_limited_total", [], complete.refusals[1])
    }

    private func render(_ store: Store, into text: inout PrometheusText) {
        if let usage = try? store.mapUsage() {
            text.family("pellet_store_map_used_bytes", .gauge, "Bytes of the LMDB map in use.")
            text.sample("pellet_store_map_used_bytes", [], usage.usedBytes)
            text.family("pellet_store_map_size_bytes", .gauge, "The LMDB map's size (--map-size).")
            text.sample("pellet_store_map_size_bytes", [], usage.sizeBytes)
        }
        text.family("pellet_store_commit_duration_seconds", .histogram, "Each store commit, begin to commit (and sync).")
        text.histogram("pellet_store_commit_duration_seconds", [], store.commitDurations, series: 0)
        text.family("pellet_store_writer_queue_depth", .gauge, "Writes waiting for the store's writer thread.")
        text.sample("pellet_store_writer_queue_depth", [], UInt64(max(0, store.writerQueueDepth)))
        text.family("pellet_store_write_refused", .gauge, "1 while the store refuses writes (Complete is refused).")
        text.sample("pellet_store_write_refused", [], store.writeRefusal == nil ? 0 : 1)
        if let depth = meteringOutbox?() {
            text.family(
                "pellet_cluster_outbox_events", .gauge, "Metering events waiting to be shipped to the cluster's database.")
            text.sample("pellet_cluster_outbox_events", [], UInt64(max(0, depth)))
        }
        if let link = clusterLink?() {
            text.family(
                "pellet_cluster_database_connected", .gauge, "1 while the node's change feed is connected to the cluster's database.")
            text.sample("pellet_cluster_database_connected", [], link.connected ? 1 : 0)
            text.family(
                "pellet_cluster_discarded_events_total", .counter,
                "Metering events discarded instead of shipped: older than the retention.")
            text.sample("pellet_cluster_discarded_events_total", [], UInt64(max(0, link.discardedEvents)))
        }
    }
}

/// The text format's writer: HELP and TYPE lines, samples with escaped label values.
struct PrometheusText {
    enum Kind: String { case counter, gauge, histogram }

    private(set) var output = ""

    init() { output.reserveCapacity(64 << 10) }

    mutating func family(_ name: String, _ kind: Kind, _ help: String) {
        output += "# HELP \(name) \(help)\n# TYPE \(name) \(kind.rawValue)\n"
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: UInt64) {
        line(name, labels, String(value))
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], value: Double) {
        line(name, labels, "\(value)")
    }

    mutating func histogram(_ name: String, _ labels: [(String, String)], _ histograms: DurationHistograms, series: Int) {
        let (cumulative, sum) = histograms.snapshot(series: series)
        for (index, bound) in histograms.boundsNanoseconds.enumerated() {
            line(name + "_bucket", labels + [("le", "\(Double(bound) / 1e9)")], String(cumulative[index]))
        }
        line(name + "_bucket", labels + [("le", "+Inf")], String(cumulative[cumulative.count - 1]))
        line(name + "_sum", labels, "\(Double(sum) / 1e9)")
        line(name + "_count", labels, String(cumulative[cumulative.count - 1]))
    }

    private mutating func line(_ name: String, _ labels: [(String, String)], _ value: String) {
        output += name
        if !labels.isEmpty {
            output += "{"
            for (index, (key, labelValue)) in labels.enumerated() {
                if index > 0 { output += "," }
                output += key
                output += "=\""
                output += Self.escaped(labelValue)
                output += "\""
            }
            output += "}"
        }
        output += " "
        output += value
        output += "\n"
    }

    static func escaped(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return value }
        return value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
