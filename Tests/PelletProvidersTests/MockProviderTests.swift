import Foundation
import PelletProviders
import PelletWire
import XCTest

/// The engine, the OpenAI mapping and the failure classification against the real mock provider.
final class MockProviderTests: XCTestCase {
    nonisolated(unsafe) private static var mock: MockProviderProcess?
    private var engine: ProviderEngine!

    override class func tearDown() {
        mock?.stop()
        mock = nil
    }

    override func setUpWithError() throws {
        if Self.mock == nil {
            Self.mock = try MockProviderProcess()
        }
        engine = try ProviderEngine(logger: makeTestLogger())
        mock.resetStats(using: engine)
    }

    override func tearDown() {
        engine.shutdown()
        engine = nil
    }

    private var mock: MockProviderProcess { Self.mock! }

    private func chat(_ model: String = "mock-small", stream: Bool, maxTokens: UInt32 = 0) -> ChatRequest {
        ChatRequest(
            model: model, messages: [ChatMessage(role: "user", content: "Tell me about pellets.")],
            maxTokens: maxTokens, stream: stream)
    }

    private func start(
        _ chat: ChatRequest, timeout: Duration = .seconds(10), headers: HTTPHeaders = [],
        handler: RecordingHandler = RecordingHandler()
    ) -> (RecordingHandler, TransferHandle) {
        var request = OpenAIChat.httpRequest(for: chat, provider: mock.provider(), timeout: timeout)
        for field in headers { request.headers.add(name: field.name, value: field.value) }
        return (handler, engine.start(request, handler: handler))
    }

    /// `POST /_mock/models` through the engine; the status it answered.
    private func setModels(_ json: String) throws -> Int? {
        let handler = RecordingHandler()
        engine.start(
            HTTPRequest(method: .post, url: mock.baseURL + "/_mock/models", body: Array(json.utf8), timeout: .seconds(5)),
            handler: handler)
        handler.waitForResult()
        return handler.record.current.status
    }

    private func listModels() -> Result<Set<String>, ModelListError> {
        let result = Locked<Result<ListedModels, ModelListError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        engine.listModels(provider: mock.provider(), timeout: .seconds(5)) { listed in
            result.withLock { $0 = listed }
            done.signal()
        }
        _ = done.wait(timeout: .now() + 5)
        return (result.current ?? .failure(ModelListError(message: "no answer"))).map(\.ids)
    }

    func testASetModelListIsServedAndAnUnlistedModelIsAnsweredAsTheProvidersDo() throws {
        defer { XCTAssertEqual(try? setModels("null"), 200) }
        XCTAssertEqual(try setModels(#"["mock-small","mock-large"]"#), 200)
        XCTAssertEqual(try listModels().get(), ["mock-small", "mock-large"])

        let (served, _) = start(chat("mock-small", stream: false))
        served.waitForResult()
        XCTAssertEqual(served.record.current.status, 200)
        for stream in [false, true] {
            let (handler, _) = start(chat("retired-model", stream: stream))
            handler.waitForResult()
            XCTAssertEqual(handler.record.current.status, 404)
            XCTAssertEqual(OpenAIChat.errorCode(in: handler.record.current.body), "model_not_found")
            guard case .failed(let failure) = decode(handler.record.current, stream: stream).last else {
                return XCTFail("a 404 is a failure")
            }
            XCTAssertEqual(failure.kind, .modelUnavailable)
            XCTAssertFalse(failure.countsAsProviderFailure)
            XCTAssertTrue(failure.triesNextCandidate)
        }

        // A list that cannot be read is an error, never an empty list.
        XCTAssertEqual(try setModels(#"{"status":503}"#), 200)
        guard case .failure(let error) = listModels() else { return XCTFail("a 503 list is not a list") }
        XCTAssertTrue(error.message.contains("503"), error.message)
        XCTAssertEqual(try setModels(#"["x"]"#), 200, "a new list ends the failure")
        XCTAssertEqual(try listModels().get(), ["x"])
        XCTAssertEqual(try setModels("not json"), 400)
    }

    func testAUnaryCompletion() throws {
        let (handler, _) = start(chat(stream: false))
        handler.waitForResult()
        let events = decode(handler.record.current, stream: false)
        guard events.count == 1, case .completed(let completion) = events[0] else { return XCTFail("\(events)") }
        XCTAssertFalse(completion.content.isEmpty)
        XCTAssertEqual(completion.finishReason, "stop")
        let usage = try XCTUnwrap(completion.usage)
        let stats = try mock.stats(using: engine)
        XCTAssertEqual(Int(usage.promptTokens), stats["prompt_tokens"])
        XCTAssertEqual(Int(usage.completionTokens), stats["completion_tokens"])
        XCTAssertEqual(stats["ok"], 1)
    }

    func testAStreamArrivesIncrementallyWithUsageAtTheEnd() throws {
        // 6 pieces at 50 tokens per second: the body comes over about 100 ms, not at once.
        let (handler, _) = start(chat("mock-small@mock-behavior=tps=50,tokens=6", stream: true))
        let result = try XCTUnwrap(handler.waitForResult())
        XCTAssertEqual(result.info?.status, 200)
        let record = handler.record.current
        XCTAssertGreaterThanOrEqual(record.bodyCallbacks, 4, "pieces were delivered one by one")
        XCTAssertEqual(record.headers["content-type"]?.hasPrefix("text/event-stream"), true)

        let events = decode(record, stream: true)
        let deltas = events.compactMap { if case .delta(let text) = $0 { text } else { nil } }
        XCTAssertEqual(deltas.count, 6)
        guard case .completed(let completion) = events.last else { return XCTFail("\(events)") }
        XCTAssertEqual(completion.usage?.completionTokens, 6)
        let stats = try mock.stats(using: engine)
        XCTAssertEqual(stats["streamed"], 1)
        XCTAssertEqual(stats["ok"], 1)
    }

    func testTheFirstBodyBytesComeBeforeTheEnd() throws {
        let firstBodyAt = Locked<ContinuousClock.Instant?>(nil)
        let handler = RecordingHandler { _ in firstBodyAt.withLock { if $0 == nil { $0 = .now } } }
        _ = start(chat("mock-small@mock-behavior=tps=20,tokens=5", stream: true), handler: handler)
        handler.waitForResult()
        let first = try XCTUnwrap(firstBodyAt.current)
        let end = try XCTUnwrap(handler.record.current.finishedAt)
        XCTAssertGreaterThan(milliseconds(end - first), 150, "5 tokens at 20/s take about 200 ms after the first bytes")
    }

    func testFailuresAreClassified() throws {
        let cases: [(behavior: String, stream: Bool, kind: ProviderFailure.Kind)] = [
            ("status=500", false, .providerError),
            ("status=503", true, .providerError),
            ("status=429", true, .rateLimited),
            ("status=401", false, .misconfigured),
            ("status=403", true, .misconfigured),
            ("status=400", false, .badRequest),
            ("malformed", false, .malformedResponse),
            ("malformed", true, .malformedResponse),
            ("disconnect-midstream", true, .incompleteStream),
            ("no-done", true, .incompleteStream),
        ]
        for (behavior, stream, kind) in cases {
            let (handler, _) = start(chat("mock-small@mock-behavior=\(behavior)", stream: stream))
            handler.waitForResult()
            let events = decode(handler.record.current, stream: stream)
            XCTAssertEqual(failure(events.last)?.kind, kind, "\(behavior) stream=\(stream): \(events)")
        }
    }

    func testRetryAfterFromTheHeaderControl() throws {
        let (handler, _) = start(chat(stream: false), headers: [("x-mock-behavior", "status=429,retry-after=7")])
        handler.waitForResult()
        let failure = failure(decode(handler.record.current, stream: false).last)
        XCTAssertEqual(failure?.kind, .rateLimited)
        XCTAssertEqual(failure?.retryAfter, .seconds(7))
    }

    func testCancellingAHangIsFastAndTheMockSeesTheConnectionClose() throws {
        let (handler, handle) = start(chat("mock-small@mock-behavior=hang", stream: true))
        try mock.waitForStats(using: engine) { $0["in_flight"] == 1 }
        let cancelledAt = ContinuousClock.now
        handle.cancel()
        let result = try XCTUnwrap(handler.waitForResult())
        XCTAssertTrue(result.isCancelled)
        let elapsed = try XCTUnwrap(handler.record.current.finishedAt) - cancelledAt
        XCTAssertLessThan(milliseconds(elapsed), 50)
        let stats = try mock.waitForStats(using: engine) { $0["cancelled_by_client"] == 1 }
        XCTAssertEqual(stats["cancelled_by_client"], 1, "\(stats)")
        XCTAssertEqual(stats["in_flight"], 0, "\(stats)")
        XCTAssertEqual(
            failure(decode(handler.record.current, stream: true).last)?.kind, .cancelled)
    }

    func testADeadlineShorterThanTheProviderTimesOut() throws {
        let (handler, _) = start(
            chat("mock-small@mock-behavior=latency=2000", stream: false), timeout: .milliseconds(300))
        let result = try XCTUnwrap(handler.waitForResult())
        XCTAssertEqual(result.error?.kind, .timedOut)
        XCTAssertEqual(failure(decode(handler.record.current, stream: false).last)?.status, .deadlineExceeded)
        let stats = try mock.waitForStats(using: engine) { $0["cancelled_by_client"] == 1 }
        XCTAssertEqual(stats["in_flight"], 0, "the transfer ended at the mock too: \(stats)")
    }

    func testAFirstTokenTimeout() throws {
        let request = OpenAIChat.httpRequest(
            for: chat("mock-small@mock-behavior=latency=2000", stream: true), provider: mock.provider(),
            timeout: .seconds(10), firstTokenTimeout: .milliseconds(200), idleTimeout: .seconds(5))
        let handler = RecordingHandler()
        engine.start(request, handler: handler)
        handler.waitForResult()
        XCTAssertEqual(failure(decode(handler.record.current, stream: true).last)?.kind, .firstTokenTimeout)
    }

    func testTwoHundredConcurrentStreamsAllComplete() throws {
        let transfers = (0..<200).map { _ in
            start(chat("mock-small@mock-behavior=tokens=8", stream: true, maxTokens: UInt32(8)), timeout: .seconds(30))
        }
        for (index, (handler, _)) in transfers.enumerated() {
            handler.waitForResult(timeout: .seconds(30))
            let events = decode(handler.record.current, stream: true)
            guard case .completed = events.last else { return XCTFail("transfer \(index): \(events)") }
        }
        let stats = try mock.stats(using: engine)
        XCTAssertEqual(stats["ok"], 200, "\(stats)")
        XCTAssertEqual(stats["in_flight"], 0, "\(stats)")
    }

    func testSequentialCallsReuseOneConnection() throws {
        var newConnections: [Int] = []
        for _ in 0..<5 {
            let (handler, _) = start(chat(stream: true))
            newConnections.append(try XCTUnwrap(handler.waitForResult()?.info).newConnections)
        }
        // The stats requests before share the same connection, so even the first may reuse it.
        XCTAssertEqual(newConnections.dropFirst(), [0, 0, 0, 0])
        XCTAssertLessThanOrEqual(newConnections[0], 1)
    }
}
