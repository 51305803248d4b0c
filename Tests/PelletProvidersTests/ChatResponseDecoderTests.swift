import Foundation
import PelletProviders
import PelletTesting
import PelletWire
import XCTest

final class ChatResponseDecoderTests: XCTestCase {
    static let eventStream = Array(
        (#"data: {"choices":[{"delta":{"role":"assistant","content":""}}]}"# + "\n\n"
            + ": processing\n\n"
            + #"data: {"model":"m1","choices":[{"delta":{"content":"Hel"}}]}"# + "\r\n\r\n"
            + #"data: {"choices":[{"delta":{"content":"lo"},"finish_reason":"stop"}]}"# + "\n\n"
            + #"data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2}}"# + "\n\n"
            + "data: [DONE]\n\n").utf8)
    static let streamHeaders: HTTPHeaders = [("content-type", "text/event-stream")]
    static let completed = ChatResponseDecoder.Event.completed(
        ChatCompletion(
            content: "", finishReason: "stop", usage: TokenUsage(promptTokens: 7, completionTokens: 2), model: "m1"))
    static let info = TransferInfo(
        status: 200, newConnections: 0, httpVersion: 1, timeToFirstByte: .zero, totalTime: .microseconds(1_234))

    func testAStreamGivesDeltasThenTheCompletionAtDone() {
        var decoder = ChatResponseDecoder(stream: true)
        var events: [ChatResponseDecoder.Event] = []
        decoder.receivedStatus(200, headers: Self.streamHeaders)
        decoder.receivedBody(Self.eventStream) { events.append($0) }
        XCTAssertEqual(events, [.delta("Hel"), .delta("lo"), Self.completed])
        XCTAssertTrue(decoder.isFinished)
        // The end of the transfer adds nothing.
        decoder.finished(.completed(Self.info)) { events.append($0) }
        decoder.finished(.cancelled) { events.append($0) }
        XCTAssertEqual(events.count, 3)
    }

    func testCachedPromptTokensAreDecodedFromEitherPlace() {
        let bodies: [(String, UInt32)] = [
            (#"{"prompt_tokens":90,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":64}}"#, 64),
            // Together puts it flat on some models.
            (#"{"prompt_tokens":90,"completion_tokens":2,"cached_tokens":32}"#, 32),
            (#"{"cached_tokens":1,"prompt_tokens":90,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":64}}"#, 64),
            (#"{"prompt_tokens":90,"completion_tokens":2,"prompt_tokens_details":null}"#, 0),
            (#"{"prompt_tokens":90,"completion_tokens":2,"prompt_tokens_details":{"audio_tokens":0}}"#, 0),
            // More cached than prompt is nonsense: capped at the prompt.
            (#"{"prompt_tokens":90,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":500}}"#, 90),
        ]
        for (usage, cached) in bodies {
            var decoder = ChatResponseDecoder(stream: false)
            var events: [ChatResponseDecoder.Event] = []
            decoder.receivedStatus(200, headers: [("content-type", "application/json")])
            let body = #"{"model":"m1","choices":[{"message":{"content":"hi"},"finish_reason":"stop"}],"usage":"#
                + usage + "}"
            decoder.receivedBody(Array(body.utf8)) { events.append($0) }
            decoder.finished(.completed(Self.info)) { events.append($0) }
            guard case .completed(let completion)? = events.first, events.count == 1 else {
                return XCTFail("expected one completion, got \(events)")
            }
            XCTAssertEqual(
                completion.usage, TokenUsage(promptTokens: 90, completionTokens: 2, cachedPromptTokens: cached), usage)
        }
    }

    func testAStreamSplitAnywhereGivesTheSameEvents() {
        var generator = SeededGenerator(state: 42)
        for round in 0..<200 {
            var decoder = ChatResponseDecoder(stream: true)
            var events: [ChatResponseDecoder.Event] = []
            decoder.receivedStatus(200, headers: Self.streamHeaders)
            var index = 0
            while index < Self.eventStream.count {
                let end = min(Self.eventStream.count, index + Int.random(in: 1...40, using: &generator))
                decoder.receivedBody(Array(Self.eventStream[index..<end])) { events.append($0) }
                index = end
            }
            decoder.finished(.completed(Self.info)) { events.append($0) }
            XCTAssertEqual(
                events.filter { if case .delta = $0 { false } else { true } }, [Self.completed], "round \(round)")
            let text = events.compactMap { if case .delta(let text) = $0 { text } else { nil } }.joined()
            XCTAssertEqual(text, "Hello", "round \(round)")
        }
    }

    func testAccumulatingAStreamForAUnaryCaller() {
        var decoder = ChatResponseDecoder(stream: true, accumulatesStreamContent: true)
        var events: [ChatResponseDecoder.Event] = []
        decoder.receivedStatus(200, headers: Self.streamHeaders)
        decoder.receivedBody(Self.eventStream) { events.append($0) }
        guard case .completed(let completion) = events.last else { return XCTFail("\(events)") }
        XCTAssertEqual(completion.content, "Hello")
    }

    func testAStreamThatEndsWithoutDoneFails() {
        let truncated = Array(Self.eventStream[..<(Self.eventStream.count - "data: [DONE]\n\n".utf8.count)])
        var decoder = ChatResponseDecoder(stream: true)
        var events: [ChatResponseDecoder.Event] = []
        decoder.receivedStatus(200, headers: Self.streamHeaders)
        decoder.receivedBody(truncated) { events.append($0) }
        decoder.finished(.completed(Self.info)) { events.append($0) }
        XCTAssertEqual(events.dropLast(), [.delta("Hel"), .delta("lo")])
        XCTAssertEqual(failure(events.last)?.kind, .incompleteStream)
        XCTAssertEqual(failure(events.last)?.triesNextCandidate, true)
    }

    func testAStreamCutByTheConnectionIsIncomplete() {
        var decoder = ChatResponseDecoder(stream: true)
        var events: [ChatResponseDecoder.Event] = []
        decoder.receivedStatus(200, headers: Self.streamHeaders)
        decoder.receivedBody(Array(Self.eventStream[..<100])) { events.append($0) }
        let lost = TransferError(kind: .connectionLost, curlCode: 18, message: "transfer closed")
        decoder.finished(.failed(lost)) { events.append($0) }
        XCTAssertEqual(failure(events.last)?.kind, .incompleteStream)
    }

    func testAMalformedChunkFailsAtOnceAndTheRestIsIgnored() {
        var decoder = ChatResponseDecoder(stream: true)
        var events: [ChatResponseDecoder.Event] = []
        decoder.receivedStatus(200, headers: Self.streamHeaders)
        let bytes = Array((#"data: {"choices":[{"delta":{"content":"a"}}]}"# + "\n\ndata: {oops\n\n").utf8)
        decoder.receivedBody(bytes) { events.append($0) }
        XCTAssertEqual(events.first, .delta("a"))
        XCTAssertEqual(failure(events.last)?.kind, .malformedResponse)
        XCTAssertTrue(decoder.isFinished)
        decoder.receivedBody(Self.eventStream) { events.append($0) }
        decoder.finished(.cancelled) { events.append($0) }
        XCTAssertEqual(events.count, 2)
    }

    func testAnOversizedEventIsMalformed() {
        var decoder = ChatResponseDecoder(stream: true, limits: .init(maximumEventBytes: 32))
        var events: [ChatResponseDecoder.Event] = []
        decoder.receivedStatus(200, headers: Self.streamHeaders)
        decoder.receivedBody(Array(("data: " + String(repeating: "z", count: 64) + "\n\n").utf8)) { events.append($0) }
        XCTAssertEqual(failure(events.last)?.kind, .malformedResponse)
    }

    func testAUnaryCompletion() {
        var decoder = ChatResponseDecoder(stream: false)
        var events: [ChatResponseDecoder.Event] = []
        decoder.receivedStatus(200, headers: [("content-type", "application/json")])
        let body = Array(
            #"{"choices":[{"message":{"content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#
                .utf8)
        decoder.receivedBody(Array(body[..<10])) { events.append($0) }
        decoder.receivedBody(Array(body[10...])) { events.append($0) }
        XCTAssertEqual(events, [], "nothing before the end of the body")
        decoder.finished(.completed(Self.info)) { events.append($0) }
        XCTAssertEqual(
            events,
            [
                .completed(
                    ChatCompletion(
                        content: "Hi", finishReason: "stop", usage: TokenUsage(promptTokens: 1, completionTokens: 1),
                        transferTime: .microseconds(1_234)))
            ])
    }

    func testAProviderAnsweringAStreamRequestWithJSONStillWorks() {
        var decoder = ChatResponseDecoder(stream: true)
        var events: [ChatResponseDecoder.Event] = []
        decoder.receivedStatus(200, headers: [("content-type", "application/json; charset=utf-8")])
        decoder.receivedBody(Array(#"{"choices":[{"message":{"content":"Hi"},"finish_reason":"stop"}]}"#.utf8)) {
            events.append($0)
        }
        decoder.finished(.completed(Self.info)) { events.append($0) }
        XCTAssertEqual(
            events,
            [
                .delta("Hi"),
                .completed(ChatCompletion(content: "", finishReason: "stop", usage: nil, transferTime: .microseconds(1_234))),
            ])
    }

    func testAMalformedUnaryBody() {
        let events = run(status: 200, body: "{\"choices\": [", stream: false)
        XCTAssertEqual(failure(events.last)?.kind, .malformedResponse)
    }

    func testAnOversizedUnaryBodyFails() {
        var decoder = ChatResponseDecoder(stream: false, limits: .init(maximumBodyBytes: 16))
        var events: [ChatResponseDecoder.Event] = []
        decoder.receivedStatus(200, headers: [])
        decoder.receivedBody(Array(repeating: 0x20, count: 17)) { events.append($0) }
        XCTAssertEqual(failure(events.last)?.kind, .malformedResponse)
    }

    func testStatusClassification() {
        let cases: [(Int, ProviderFailure.Kind, Status)] = [
            (400, .badRequest, .invalidArgument), (422, .badRequest, .invalidArgument),
            (401, .misconfigured, .unavailable), (403, .misconfigured, .unavailable),
            (429, .rateLimited, .unavailable), (500, .providerError, .unavailable),
            (502, .providerError, .unavailable), (503, .providerError, .unavailable),
            (404, .modelUnavailable, .unavailable),
        ]
        for (status, kind, callerStatus) in cases {
            for stream in [false, true] {
                let events = run(status: status, body: #"{"error":{"message":"why"}}"#, stream: stream)
                XCTAssertEqual(events.count, 1, "\(status)")
                let failure = failure(events.last)
                XCTAssertEqual(failure?.kind, kind, "\(status)")
                XCTAssertEqual(failure?.httpStatus, status)
                XCTAssertEqual(failure?.status, callerStatus, "\(status)")
                XCTAssertEqual(failure?.triesNextCandidate, kind != .badRequest, "\(status)")
            }
        }
    }

    func testABadRequestCarriesTheProvidersMessage() {
        let events = run(status: 400, body: #"{"error":{"message":"max_tokens must be at most 4096"}}"#, stream: false)
        XCTAssertEqual(
            failure(events.last)?.message, "the provider rejected the request (400): max_tokens must be at most 4096")
    }

    func testRateLimitedHonoursRetryAfter() {
        let events = run(status: 429, headers: [("retry-after", "3")], body: "", stream: true)
        XCTAssertEqual(failure(events.last)?.kind, .rateLimited)
        XCTAssertEqual(failure(events.last)?.retryAfter, .seconds(3))
        let dated = run(
            status: 429, headers: [("retry-after", "Thu, 01 Jan 2026 00:00:10 GMT")], body: "", stream: false,
            now: Date(timeIntervalSince1970: 1_767_225_600))
        XCTAssertEqual(failure(dated.last)?.retryAfter, .seconds(10))
    }

    func testTransportFailures() {
        let cases: [(TransferError.Kind, ProviderFailure.Kind, Status)] = [
            (.timedOut, .timedOut, .deadlineExceeded), (.firstByteTimeout, .firstTokenTimeout, .unavailable),
            (.idleTimeout, .idleTimeout, .unavailable), (.connectionFailed, .connectionFailed, .unavailable),
            (.tls, .connectionFailed, .unavailable), (.connectionLost, .connectionFailed, .unavailable),
        ]
        for (transferKind, kind, status) in cases {
            var decoder = ChatResponseDecoder(stream: false)
            var events: [ChatResponseDecoder.Event] = []
            decoder.finished(.failed(TransferError(kind: transferKind, message: "x"))) { events.append($0) }
            XCTAssertEqual(failure(events.last)?.kind, kind, "\(transferKind)")
            XCTAssertEqual(failure(events.last)?.status, status, "\(transferKind)")
            XCTAssertEqual(failure(events.last)?.countsAsProviderFailure, true)
        }
        let others: [(TransferResult, ProviderFailure.Kind, Status, Bool)] = [
            (.cancelled, .cancelled, .cancelled, false),
            (.failed(TransferError(kind: .engineStopped, message: "x")), .cancelled, .cancelled, false),
            (.failed(TransferError(kind: .invalidRequest, message: "bad URL")), .misconfigured, .unavailable, false),
        ]
        for (result, kind, status, counts) in others {
            var decoder = ChatResponseDecoder(stream: true)
            var events: [ChatResponseDecoder.Event] = []
            decoder.finished(result) { events.append($0) }
            XCTAssertEqual(failure(events.last)?.kind, kind, "\(result)")
            XCTAssertEqual(failure(events.last)?.status, status, "\(result)")
            XCTAssertEqual(failure(events.last)?.countsAsProviderFailure, counts, "\(result)")
        }
    }

    private func run(
        status: Int, headers: HTTPHeaders = [], body: String, stream: Bool, now: Date = Date()
    ) -> [ChatResponseDecoder.Event] {
        var decoder = ChatResponseDecoder(stream: stream, now: { now })
        var events: [ChatResponseDecoder.Event] = []
        decoder.receivedStatus(status, headers: headers)
        decoder.receivedBody(Array(body.utf8)) { events.append($0) }
        decoder.finished(
            .completed(
                TransferInfo(
                    status: status, newConnections: 0, httpVersion: 1, timeToFirstByte: .zero, totalTime: .zero))
        ) {
            events.append($0)
        }
        return events
    }
}

func failure(_ event: ChatResponseDecoder.Event?) -> ProviderFailure? {
    if case .failed(let failure) = event { return failure }
    return nil
}
