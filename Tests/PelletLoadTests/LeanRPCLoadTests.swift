import Foundation
import PelletLoadKit
import PelletServer
import PelletTesting
import PelletWire
import XCTest

/// `pellet-load rpc --client lean` against a real in-process server over its Unix socket and
/// TCP: the same closed and open loops as the NIO client's (`RPCLoadTests`), the same report.
/// Timings on this shared machine are noisy: the assertions are lower bounds, and generous upper
/// ones.
final class LeanRPCLoadTests: RPCLoadTestCase {
    override var client: String { "lean" }

    func testClosedLoopKeepsInFlightCallsOutAndTimesEach() async throws {
        try await withServer(services: [.health: SleepingService(delay: .milliseconds(20))]) { server in
            for tcp in [false, true] {
                let report = try await LoadRunner(
                    configuration: configuration(server, tcp: tcp, connections: 2, inFlight: 2, duration: 0.6)
                ).run()
                XCTAssertEqual(report.mode, "closed")
                XCTAssertEqual(report.errors, 0)
                XCTAssertEqual(report.statuses, ["OK": report.completed])
                XCTAssertGreaterThan(report.completed, 10)
                XCTAssertGreaterThanOrEqual(report.sent, report.completed)
                XCTAssertGreaterThanOrEqual(report.latency.p50, 20_000, "never faster than the service sleeps")
                XCTAssertLessThan(report.latency.p50, 20_000 + 150_000)
                // Four calls outstanding, 20 ms each: at most 200 a second.
                XCTAssertLessThanOrEqual(report.achievedRate, 4 / 0.020 * 1.05)
                XCTAssertGreaterThanOrEqual(report.achievedRate, 4 / 0.020 / 4, "the four slots are kept busy")
            }
        }
    }

    func testOpenLoopShowsTheQueueBehindAStall() async throws {
        let stalling = StallingService(stall: .milliseconds(300), delay: .milliseconds(1))
        try await withServer(services: [.health: stalling]) { server in
            // 100 requests a second for 1 s over one call at a time; the first stalls 300 ms and
            // the requests due meanwhile wait: their latency from the scheduled time holds it.
            let open = try await LoadRunner(configuration: configuration(server, rate: 100, duration: 1, warmup: 0)).run()
            XCTAssertEqual(open.mode, "open")
            XCTAssertEqual(open.errors, 0)
            XCTAssertEqual(open.sent, 100, "every scheduled request is sent, late or not")
            XCTAssertEqual(open.completed, 100)
            XCTAssertGreaterThanOrEqual(open.latency.max, 280_000)
            XCTAssertGreaterThanOrEqual(open.latency.p90, 100_000, "the queue shows in the tail, not in one sample")
            let sendDelay = try XCTUnwrap(open.sendDelay)
            XCTAssertGreaterThanOrEqual(sendDelay.max, 250_000, "the queued requests left late")
        }
    }

    func testOpenLoopKeepsTheRateWhenTheServerKeepsUp() async throws {
        try await withServer { server in
            let report = try await LoadRunner(
                configuration: configuration(server, tcp: true, connections: 2, inFlight: 2, rate: 400, duration: 0.5)
            ).run()
            XCTAssertEqual(report.sent, 200)
            XCTAssertEqual(report.completed, 200)
            XCTAssertEqual(report.statuses, ["OK": 200])
            XCTAssertEqual(report.achievedRate, 400, accuracy: 80)
        }
    }

    func testManyCallsInFlightAreAllAnsweredAndCounted() async throws {
        // The default Route service refuses a key it does not know: every call is answered
        // UNAUTHENTICATED, with 64 out at once on each connection.
        try await withServer { server in
            let report = try await LoadRunner(
                configuration: configuration(server, method: "route", connections: 2, inFlight: 64, duration: 0.3)
            ).run()
            XCTAssertGreaterThan(report.completed, 128)
            XCTAssertEqual(report.statuses, ["UNAUTHENTICATED": report.completed])
            XCTAssertEqual(report.sent, report.completed, "nothing abandoned: the server answered every call")
        }
    }

    func testAnUnreachableTargetIsAnError() async throws {
        let directory = try TemporaryDirectory()
        var options = LoadConfiguration.Options(target: "unix:" + directory.file("absent.sock"))
        options.client = "lean"
        options.durationSeconds = 0.2
        do {
            _ = try await LoadRunner(configuration: LoadConfiguration(options: options)).run()
            XCTFail("expected the connection to fail")
        } catch {
            XCTAssertTrue(error.description.contains("could not connect to unix:"), error.description)
        }
    }
}
