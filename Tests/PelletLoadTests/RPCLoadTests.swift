import Foundation
import NIOCore
import PelletLoadKit
import PelletServer
import PelletTesting
import PelletWire
import XCTest

/// `pellet-load rpc` against a real in-process server over its Unix socket and TCP. Timings on
/// this shared machine are noisy: the assertions are lower bounds, and generous upper ones.
final class RPCLoadTests: RPCLoadTestCase {
    func testClosedLoopLatencyIsTheServiceTime() async throws {
        try await withServer(services: [.health: SleepingService(delay: .milliseconds(20))]) { server in
            let report = try await LoadRunner(
                configuration: configuration(server, connections: 2, inFlight: 2, duration: 0.6)
            ).run()

            XCTAssertEqual(report.mode, "closed")
            XCTAssertNil(report.rate)
            XCTAssertEqual(report.errors, 0)
            XCTAssertEqual(report.statuses, ["OK": report.completed])
            XCTAssertGreaterThan(report.completed, 10)
            XCTAssertGreaterThanOrEqual(report.sent, report.completed)
            XCTAssertGreaterThanOrEqual(report.latency.p50, 20_000, "never faster than the service sleeps")
            XCTAssertLessThan(report.latency.p50, 20_000 + 150_000)
            XCTAssertGreaterThanOrEqual(report.latency.max, report.latency.p99)
            // Four calls outstanding, 20 ms each: at most 200 a second.
            XCTAssertLessThanOrEqual(report.achievedRate, 4 / 0.020 * 1.05)
            XCTAssertGreaterThanOrEqual(report.durationSeconds, 0.6)
            XCTAssertNil(report.firstChunk)
        }
    }

    func testOpenLoopShowsTheQueueBehindAStall() async throws {
        let stalling = StallingService(stall: .milliseconds(300), delay: .milliseconds(1))
        try await withServer(services: [.health: stalling]) { server in

            // 100 requests a second for 1 s over one call at a time. The first call stalls 300 ms;
            // the 30 requests due meanwhile wait, and their latency from the scheduled time holds
            // the wait: about 300, 291, 282, ... ms as the backlog drains.
            let open = try await LoadRunner(
                configuration: configuration(server, rate: 100, duration: 1, warmup: 0)
            ).run()
            XCTAssertEqual(open.mode, "open")
            XCTAssertEqual(open.rate, 100)
            XCTAssertEqual(open.errors, 0)
            XCTAssertEqual(open.sent, 100, "every scheduled request is sent, late or not")
            XCTAssertEqual(open.completed, 100)
            XCTAssertGreaterThanOrEqual(open.latency.max, 280_000)
            XCTAssertGreaterThanOrEqual(open.latency.p90, 100_000, "the queue shows in the tail, not in one sample")
            let sendDelay = try XCTUnwrap(open.sendDelay)
            XCTAssertGreaterThanOrEqual(sendDelay.max, 250_000, "the queued requests left late")

            // The same stall measured in a closed loop: one slow sample, the rest look fine. That
            // is what coordinated omission hides.
            stalling.rearm()
            let closed = try await LoadRunner(configuration: configuration(server, duration: 1, warmup: 0)).run()
            XCTAssertGreaterThanOrEqual(closed.latency.max, 280_000)
            XCTAssertLessThan(closed.latency.p90, 100_000)
        }
    }

    func testOpenLoopOverASlowServerChargesTheBacklog() async throws {
        // 20 ms per call, one at a time: 50 a second at most, offered 100 a second. Request k is
        // due at 10k ms and ends near 20(k+1) ms, so latency grows about 10 ms per request.
        try await withServer(services: [.health: SleepingService(delay: .milliseconds(20))]) { server in
            let report = try await LoadRunner(
                configuration: configuration(server, tcp: true, rate: 100, duration: 0.5, warmup: 0)
            ).run()
            XCTAssertEqual(report.sent, 50)
            XCTAssertEqual(report.completed, 50)
            XCTAssertGreaterThanOrEqual(report.latency.p50, 200_000, "far above the 20 ms service time")
            XCTAssertGreaterThanOrEqual(report.latency.max, 450_000)
            XCTAssertGreaterThanOrEqual(report.durationSeconds, 0.95, "measured until the backlog ended")
            XCTAssertLessThanOrEqual(report.achievedRate, 55)
        }
    }

    func testOpenLoopKeepsTheRateWhenTheServerKeepsUp() async throws {
        try await withServer { server in
            let report = try await LoadRunner(
                configuration: configuration(server, connections: 2, inFlight: 2, rate: 400, duration: 0.5)
            ).run()
            XCTAssertEqual(report.sent, 200)
            XCTAssertEqual(report.completed, 200)
            XCTAssertEqual(report.statuses, ["OK": 200])
            XCTAssertEqual(report.achievedRate, 400, accuracy: 80)
        }
    }

    func testStreamedCompleteReportsTheFirstChunk() async throws {
        try await withServer(services: [.complete: CountingStreamService(count: 3)]) { server in
            let report = try await LoadRunner(
                configuration: configuration(server, method: "complete-stream", inFlight: 4, duration: 0.3)
            ).run()
            XCTAssertEqual(report.errors, 0)
            XCTAssertGreaterThan(report.completed, 0)
            let firstChunk = try XCTUnwrap(report.firstChunk)
            XCTAssertGreaterThan(firstChunk.max, 0)
            XCTAssertLessThanOrEqual(firstChunk.p50, report.latency.p50 + report.latency.p50 / 500 + 1)
        }
    }

    func testCallErrorsAreCountedByStatus() async throws {
        // The default Route service refuses a key it does not know: UNAUTHENTICATED, counted
        // and reported, and the run still ends normally.
        try await withServer { server in
            let report = try await LoadRunner(configuration: configuration(server, method: "route", duration: 0.3))
                .run()
            XCTAssertGreaterThan(report.completed, 0)
            XCTAssertEqual(report.errors, report.completed)
            XCTAssertEqual(report.statuses, ["UNAUTHENTICATED": report.completed])
        }
    }

    func testPingAndTheJSONReport() async throws {
        try await withServer { server in
            let report = try await LoadRunner(configuration: configuration(server, method: "ping", duration: 0.3)).run()
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(report.json.utf8)) as? [String: Any])
            XCTAssertEqual(
                Set(object.keys),
                [
                    "method", "target", "mode", "rate", "connections", "in_flight", "duration_s", "sent", "completed",
                    "errors", "achieved_rate", "statuses", "latency_us", "first_chunk_us", "send_delay_us",
                ]
            )
            XCTAssertEqual(object["method"] as? String, "ping")
            XCTAssertEqual(object["target"] as? String, server.unixAddress.description)
            XCTAssertEqual(object["mode"] as? String, "closed")
            XCTAssertTrue(object["rate"] is NSNull)
            XCTAssertTrue(object["first_chunk_us"] is NSNull)
            XCTAssertTrue(object["send_delay_us"] is NSNull, "only an open loop has a send delay")
            XCTAssertEqual(object["in_flight"] as? Int, 1)
            XCTAssertEqual((object["statuses"] as? [String: Int])?["OK"], Int(report.completed))
            let latency = try XCTUnwrap(object["latency_us"] as? [String: Any])
            XCTAssertEqual(Set(latency.keys), ["p50", "p90", "p99", "p999", "max", "mean"])
            XCTAssertGreaterThan(latency["p50"] as? Int ?? 0, 0)
            XCTAssertTrue(report.table.contains("completed"))
        }
    }

    func testAnUnreachableTargetIsAnError() async throws {
        let directory = try TemporaryDirectory()
        var options = LoadConfiguration.Options(target: "unix:" + directory.file("absent.sock"))
        options.durationSeconds = 0.2
        let configuration = try LoadConfiguration(options: options)
        do {
            _ = try await LoadRunner(configuration: configuration).run()
            XCTFail("expected the connection to fail")
        } catch {
            XCTAssertTrue(error.description.contains("could not connect to unix:"), error.description)
        }
    }
}
