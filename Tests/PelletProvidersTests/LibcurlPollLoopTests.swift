import Foundation
import PelletProviders
import PelletWire
import XCTest

/// The provider thread's other readiness loop, libcurl's own (`curl_multi_perform`,
/// `curl_multi_poll`, `curl_multi_wakeup`): what runs where there is no epoll. Selected here on
/// Linux through ``EngineConfiguration/readinessLoop``, against the real mock provider, so that
/// it does not rot unseen.
final class LibcurlPollLoopTests: XCTestCase {
    private var mock: MockProviderProcess!
    private var engine: ProviderEngine!

    override func setUpWithError() throws {
        mock = try MockProviderProcess()
        engine = try ProviderEngine(
            configuration: EngineConfiguration(readinessLoop: .libcurlPoll), logger: makeTestLogger())
    }

    override func tearDown() {
        engine?.shutdown()
        mock?.stop()
        (engine, mock) = (nil, nil)
    }

    private func start(_ model: String, stream: Bool, timeout: Duration = .seconds(10)) -> RecordingHandler {
        let chat = ChatRequest(
            model: model, messages: [ChatMessage(role: "user", content: "Tell me about pellets.")], stream: stream)
        let handler = RecordingHandler()
        engine.start(OpenAIChat.httpRequest(for: chat, provider: mock.provider(), timeout: timeout), handler: handler)
        return handler
    }

    /// A unary and a streamed chat, then twenty at once, each decoded to a completion; the mock
    /// counts them all. The reactor's figures show which loop ran: libcurl's own, which hands
    /// no single socket to libcurl and registers none in an epoll.
    func testChatsCompleteThroughLibcurlsOwnLoop() throws {
        let unary = start("mock-small", stream: false)
        XCTAssertEqual(try XCTUnwrap(unary.waitForResult()).info?.status, 200)
        guard case .completed(let answer) = decode(unary.record.current, stream: false).last else {
            return XCTFail("\(decode(unary.record.current, stream: false))")
        }
        XCTAssertFalse(answer.content.isEmpty)

        // Six pieces at 50 tokens a second: the loop delivers them as they come.
        let streamed = start("mock-small@mock-behavior=tps=50,tokens=6", stream: true)
        XCTAssertEqual(try XCTUnwrap(streamed.waitForResult()).info?.status, 200)
        XCTAssertGreaterThanOrEqual(streamed.record.current.bodyCallbacks, 4)
        let events = decode(streamed.record.current, stream: true)
        XCTAssertEqual(events.filter { if case .delta = $0 { true } else { false } }.count, 6)
        guard case .completed(let completion) = events.last else { return XCTFail("\(events)") }
        XCTAssertEqual(completion.usage?.completionTokens, 6)

        let together = (0..<20).map { _ in start("mock-small", stream: false) }
        for handler in together {
            XCTAssertEqual(handler.waitForResult(timeout: .seconds(20))?.info?.status, 200)
        }
        XCTAssertEqual(engine.transfersInFlight, 0)
        let stats = try mock.stats(using: engine)
        XCTAssertEqual(stats["ok"], 22, "\(stats)")
        XCTAssertEqual(stats["streamed"], 1, "\(stats)")

        let loop = engine.reactorStatistics
        XCTAssertGreaterThan(loop.waits, 0)
        XCTAssertGreaterThan(loop.timerActions, 0, "each step is a curl_multi_perform")
        XCTAssertEqual(loop.socketActions, 0, "\(loop)")
        XCTAssertEqual(loop.registrations, 0, "\(loop)")
    }

    /// A transfer started while the provider thread sleeps in `curl_multi_poll` (far longer than
    /// the call takes) wakes it through `curl_multi_wakeup`; a cancellation too.
    func testAWakeupEndsThePollForANewTransferAndACancellation() throws {
        engine.shutdown()
        engine = try ProviderEngine(
            configuration: EngineConfiguration(maximumPollInterval: .seconds(60), readinessLoop: .libcurlPoll),
            logger: makeTestLogger())
        // Let the thread go to sleep with nothing to do.
        Thread.sleep(forTimeInterval: 0.1)
        let started = ContinuousClock.now
        XCTAssertEqual(start("mock-small", stream: false).waitForResult()?.info?.status, 200)
        XCTAssertLessThan(milliseconds(ContinuousClock.now - started), 2_000)

        let hanging = RecordingHandler()
        let chat = ChatRequest(
            model: "mock-small@mock-behavior=hang", messages: [ChatMessage(role: "user", content: "Hi")], stream: true)
        let handle = engine.start(
            OpenAIChat.httpRequest(for: chat, provider: mock.provider(), timeout: .seconds(30)), handler: hanging)
        try mock.waitForStats(using: engine) { $0["in_flight"] == 1 }
        Thread.sleep(forTimeInterval: 0.1)
        let cancelledAt = ContinuousClock.now
        handle.cancel()
        XCTAssertTrue(try XCTUnwrap(hanging.waitForResult(timeout: .seconds(5))).isCancelled)
        XCTAssertLessThan(milliseconds(try XCTUnwrap(hanging.record.current.finishedAt) - cancelledAt), 1_000)
        let stats = try mock.waitForStats(using: engine) { $0["cancelled_by_client"] == 1 }
        XCTAssertEqual(stats["in_flight"], 0, "the mock saw the connection close: \(stats)")
    }
}
