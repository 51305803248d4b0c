import Foundation
import PelletServer
import PelletTesting
import PelletWire
import XCTest

/// `pelletctl health`'s cluster line and JSON object, against an in-process server whose Health
/// reports a cluster link (the real link is covered by ClusterHousekeepingNodeTests).
final class HealthClusterOutputTests: XCTestCase {
    func testTheClusterLineAndObjectSayWhatTheLinkIs() async throws {
        let connected = ClusterHealth(databaseConnected: true, appliedSequence: 42, outboxEvents: 0)
        let link = LockedBox(connected)
        let health = HealthService(metrics: ServerMetrics(), cluster: { link.withLock { $0 } })
        let server = try await TestServer.start(services: [.health: health])
        let address = "unix:\(server.socketPath)"

        let expected: [(ClusterHealth, String)] = [
            (connected, "cluster    database connected, change 42 applied, outbox empty"),
            (
                ClusterHealth(databaseConnected: false, appliedSequence: 42, outboxEvents: 1),
                "cluster    DATABASE UNREACHABLE, change 42 applied, 1 metering event waiting in the outbox"
            ),
            (
                ClusterHealth(databaseConnected: false, appliedSequence: 7, outboxEvents: 1_500),
                "cluster    DATABASE UNREACHABLE, change 7 applied, 1500 metering events waiting in the outbox"
            ),
        ]
        for (state, line) in expected {
            link.withLock { $0 = state }
            let text = try pelletctl("health", "--server", address)
            text.assertSucceeded()
            // Right after the complete line, before the providers.
            let lines = text.stdoutLines
            let index = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("complete   ") })
            XCTAssertEqual(lines[index + 1], line, text.stdout)
        }

        let json = try pelletctl("health", "--json", "--server", address)
        json.assertSucceeded()
        XCTAssertTrue(
            json.stdout.contains(#""cluster":{"applied_sequence":7,"database_connected":false,"outbox_events":1500}"#),
            json.stdout)
        await server.shutdown()
    }
}
