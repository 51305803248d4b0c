import Foundation
import PelletServer
import PelletTesting
import PelletWire
import XCTest

/// `pelletctl health` against a real pelletd, and against an in-process server for the provider
/// table.
final class HealthCommandTests: XCTestCase {
    /// A fresh pelletd without provider keys: every provider is listed as disabled, and the
    /// health call itself is the one call in flight.
    /// The default map (8 TiB), or the smaller one test pelletds get under a sanitizer.
    static let mapSize = PelletdProcess.sanitizerMapSize ?? (8 << 40)
    static let mapSizeText = PelletdProcess.sanitizerMapSize == nil ? #"8\.0 TiB"# : #"1\.0 GiB"#

    static let freshServerLines = [
        literal("status     SERVING"),
        literal("version    0.1.0"),
        "uptime     [0-9]+s",
        literal("in flight  1"),
        literal("overhead   no Complete calls in the last minute"),
        #"store      [0-9.]+ (B|KiB|MiB) of the "# + mapSizeText + #" map used \(0\.0%\)"#,
        literal("complete   served"),
        literal("providers  3"),
        literal("  fireworks  disabled  err 0.0%  p50 0 ms"),
        literal("  groq       disabled  err 0.0%  p50 0 ms"),
        literal("  together   disabled  err 0.0%  p50 0 ms"),
    ]

    func testTextOverTheDataDirectorysSocket() throws {
        let pelletd = try PelletdProcess.start()
        for dataDirectory in [pelletd.dataDirectory, pelletd.dataDirectory + "/"] {
            let result = try pelletctl("health", "--data-dir", dataDirectory)
            result.assertSucceeded()
            assertLines(result.stdout, match: Self.freshServerLines)
        }
        try pelletd.stop()
    }

    func testTextOverTCPAndAnExplicitUnixAddress() throws {
        let pelletd = try PelletdProcess.start()
        let tcpPort = try XCTUnwrap(pelletd.tcpPort, "no tcp address in the ready line: \(pelletd.subprocess.stderr)")
        XCTAssertGreaterThan(tcpPort, 0)
        for server in [pelletd.tcpAddress, pelletd.unixAddress] {
            // The data directory is deliberately wrong: --server wins.
            let result = try pelletctl("health", "--server", server, "--data-dir", "/nonexistent")
            result.assertSucceeded()
            assertLines(result.stdout, match: Self.freshServerLines)
        }
        try pelletd.stop()
    }

    func testJSONHasExactlyTheDocumentedKeys() throws {
        let pelletd = try PelletdProcess.start()
        let result = try pelletctl("health", "--json", "--server", pelletd.tcpAddress)
        result.assertSucceeded()
        // One line of compact JSON with sorted keys.
        assertLines(
            result.stdout,
            match: [
                #"\{"complete_refused":"","gateway_overhead_calls":0,"gateway_overhead_p50_us":0,"#
                    + #""gateway_overhead_p99_us":0,"in_flight":1,"providers":\[(\{[^}]+\},?){3}\],"#
                    + #""store_map_size_bytes":"# + "\(Self.mapSize)" + #","store_map_used_bytes":[0-9]+,"uptime_ms":[0-9]+,"#
                    + #""version":"0\.1\.0"\}"#]
        )
        let object = try jsonObject(result.stdout)
        XCTAssertEqual(
            Set(object.keys),
            [
                "complete_refused", "gateway_overhead_calls", "gateway_overhead_p50_us", "gateway_overhead_p99_us",
                "in_flight", "providers", "store_map_size_bytes", "store_map_used_bytes", "uptime_ms", "version",
            ])
        XCTAssertEqual(object["version"] as? String, "0.1.0")
        XCTAssertEqual(object["in_flight"] as? Int, 1)
        let providers = try XCTUnwrap(object["providers"] as? [[String: Any]])
        XCTAssertEqual(providers.compactMap { $0["name"] as? String }, ["fireworks", "groq", "together"])
        XCTAssertEqual(Set(providers.compactMap { $0["state"] as? String }), ["disabled"])
        let uptime = try XCTUnwrap(object["uptime_ms"] as? Int)
        XCTAssertTrue((0..<60_000).contains(uptime), "uptime_ms \(uptime)")
        try pelletd.stop()
    }

    func testProvidersAreListedInColumns() async throws {
        let providers = [
            ProviderHealth(name: "together", state: "healthy", errorRate: 0.02, latencyP50Ms: 310),
            ProviderHealth(name: "fireworks", state: "degraded", errorRate: 0.25, latencyP50Ms: 1200),
            ProviderHealth(name: "groq", state: "open", errorRate: .nan, latencyP50Ms: 0),
        ]
        let metrics = ServerMetrics()
        // 98 calls of 80 µs and two of 5 ms. Health reports the top of each value's bucket
        // (buckets are 2 µs wide at 80 µs and 128 µs wide at 5 ms).
        for _ in 0..<98 { metrics.gatewayOverhead.record(microseconds: 80) }
        for _ in 0..<2 { metrics.gatewayOverhead.record(microseconds: 5_000) }
        let health = HealthService(metrics: metrics, providers: { providers })
        let server = try await TestServer.start(services: [.health: health])

        let text = try pelletctl("health", "--server", "unix:\(server.socketPath)")
        text.assertSucceeded()
        assertLines(
            text.stdout,
            match: [
                literal("status     SERVING"),
                literal("version    0.1.0"),
                "uptime     [0-9]+s",
                literal("in flight  0"),
                literal("overhead   p50 81 µs  p99 5119 µs  (100 calls in the last minute)"),
                literal("store      not reported"),
                literal("complete   served"),
                literal("providers  3"),
                // Names in a column of 11, states in a column of max(9, longest + 2) = 10.
                literal("  together   healthy   err 2.0%  p50 310 ms"),
                literal("  fireworks  degraded  err 25.0%  p50 1200 ms"),
                literal("  groq       open      err n/a  p50 0 ms"),
            ]
        )

        let json = try pelletctl("health", "--json", "--server", "tcp://127.0.0.1:\(server.tcpPort)")
        json.assertSucceeded()
        let providerJSON =
            #"\[\{"error_rate":0\.02,"latency_p50_ms":310,"name":"together","state":"healthy"\},"#
            + #"\{"error_rate":0\.25,"latency_p50_ms":1200,"name":"fireworks","state":"degraded"\},"#
            + #"\{"error_rate":null,"latency_p50_ms":0,"name":"groq","state":"open"\}\]"#
        assertLines(
            json.stdout,
            match: [
                #"\{"complete_refused":"","gateway_overhead_calls":100,"gateway_overhead_p50_us":81,"#
                    + #""gateway_overhead_p99_us":5119,"in_flight":0,"providers":"# + providerJSON
                    + #","store_map_size_bytes":0,"store_map_used_bytes":0,"uptime_ms":[0-9]+,"version":"0\.1\.0"\}"#]
        )
        await server.shutdown()
    }
}
