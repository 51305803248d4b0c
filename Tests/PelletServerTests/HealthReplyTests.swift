import NIOCore
import PelletWire
import XCTest

@testable import PelletServer

/// Health sends its `models` rows encoded once per change (`EncodedModelRows`) after the rest of
/// the answer (`HealthReply`): the bytes must be exactly those of the whole HealthResponse.
final class HealthReplyTests: XCTestCase {
    private func rows(_ count: Int, state: String = "available") -> [ModelAvailability] {
        let providers = ["groq", "together", "fireworks"]
        var rows: [ModelAvailability] = []
        for index in 0..<count {
            var row = ModelAvailability()
            row.model = "model-\(index)"
            row.provider = providers[index % providers.count]
            row.state = state
            row.sinceUnixMs = 1_765_000_000_000 + UInt64(index)
            row.catalogueInputMicroUsdPerMtok = 150_000
            row.catalogueOutputMicroUsdPerMtok = 600_000
            row.listedInputMicroUsdPerMtok = index % 2 == 0 ? 150_000 : 0
            row.priceDiffers = index % 5 == 0
            rows.append(row)
        }
        return rows
    }

    private func bytes(_ message: some WireMessage) -> [UInt8] { message.encodedBytes() }

    func testTheAnswerHasTheBytesOfTheWholeMessage() throws {
        let encoded = EncodedModelRows()
        let providers = [ProviderHealth(name: "groq", state: "healthy", errorRate: 0.01, latencyP50Ms: 180)]
        for cluster in [nil, ClusterHealth(databaseConnected: true, appliedSequence: 42, outboxEvents: 3)] {
            for models in [rows(0), rows(1), rows(27)] {
                let whole = HealthResponse(
                    version: "0.1.0", uptimeMs: 123_456, inFlight: 2, providers: providers, gatewayOverheadP50Us: 40,
                    gatewayOverheadP99Us: 90, gatewayOverheadCalls: 1_000, storeMapUsedBytes: 4_096,
                    storeMapSizeBytes: 1 << 30, completeRefused: "", connections: 3, models: models, cluster: cluster)
                let reply = HealthReply(
                    encodedModels: encoded.bytes(of: models), version: "0.1.0", uptimeMs: 123_456, inFlight: 2,
                    providers: providers, gatewayOverheadP50Us: 40, gatewayOverheadP99Us: 90,
                    gatewayOverheadCalls: 1_000, storeMapUsedBytes: 4_096, storeMapSizeBytes: 1 << 30,
                    completeRefused: "", connections: 3, cluster: cluster)
                XCTAssertEqual(bytes(reply), bytes(whole), "\(models.count) rows, cluster \(cluster != nil)")
                XCTAssertEqual(try HealthResponse(decoding: bytes(reply)), whole)
            }
        }
    }

    func testChangedRowsAreEncodedAgain() throws {
        let encoded = EncodedModelRows()
        let before = rows(5)
        var after = before
        after[3].state = "unavailable"
        XCTAssertEqual(try HealthResponse(decoding: Array(buffer: encoded.bytes(of: before))).models, before)
        XCTAssertEqual(try HealthResponse(decoding: Array(buffer: encoded.bytes(of: before))).models, before)
        XCTAssertEqual(try HealthResponse(decoding: Array(buffer: encoded.bytes(of: after))).models, after)
        XCTAssertEqual(try HealthResponse(decoding: Array(buffer: encoded.bytes(of: []))).models, [])
        XCTAssertEqual(try HealthResponse(decoding: Array(buffer: encoded.bytes(of: before))).models, before)
    }
}
