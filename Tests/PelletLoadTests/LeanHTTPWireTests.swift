import XCTest

@testable import PelletLoadKit

/// The lean HTTP client without sockets: its requests, its response framing, its order of answers.
final class LeanHTTPWireTests: XCTestCase {
    private typealias Response = HTTPResponseDecoder.Response

    private static let ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello"

    /// Feeds `text` in pieces of `piece` bytes, keeping what the decoder did not use (as
    /// `LeanInput` does), and returns the responses in order.
    private func responses(_ text: String, piece: Int = .max) throws -> [Response] {
        let bytes = Array(text.utf8)
        var decoder = HTTPResponseDecoder()
        var pending: [UInt8] = []
        var found: [Response] = []
        var offset = 0
        while offset < bytes.count {
            let end = offset + min(piece, bytes.count - offset)
            pending += bytes[offset..<end]
            offset = end
            while true {
                let step = try pending.withUnsafeBytes { try decoder.decode($0) }
                pending.removeFirst(step.used)
                guard let response = step.response else { break }
                found.append(response)
            }
        }
        XCTAssertEqual(pending.count, 0, "every byte belongs to a response")
        return found
    }

    private func failure(_ text: String) -> String? {
        var decoder = HTTPResponseDecoder()
        do {
            _ = try Array(text.utf8).withUnsafeBytes { try decoder.decode($0) }
            return nil
        } catch {
            return (error as? HTTPResponseDecoder.Failure)?.description ?? "\(error)"
        }
    }

    func testAContentLengthResponseWholeOrByteByByte() throws {
        let expected = [Response(status: 200, closesConnection: false)]
        XCTAssertEqual(try responses(Self.ok), expected)
        XCTAssertEqual(try responses(Self.ok, piece: 1), expected)
        XCTAssertEqual(try responses(Self.ok, piece: 7), expected)
    }

    func testPipelinedResponsesInOneRead() throws {
        let error = "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n\r\n{}"
        let found = try responses(Self.ok + error + Self.ok)
        XCTAssertEqual(found.map(\.status), [200, 503, 200])
        XCTAssertEqual(try responses(Self.ok + error + Self.ok, piece: 3).map(\.status), [200, 503, 200])
    }

    func testAChunkedBodyWithExtensionsAndTrailers() throws {
        let chunked =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: yes\r\n\r\n"
        for piece in [Int.max, 1, 4] {
            XCTAssertEqual(try responses(chunked + Self.ok, piece: piece).map(\.status), [200, 200])
        }
    }

    func testInterimAndBodilessResponses() throws {
        let text =
            "HTTP/1.1 100 Continue\r\n\r\n" + "HTTP/1.1 204 No Content\r\n\r\n"
            + "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n" + Self.ok
        XCTAssertEqual(try responses(text).map(\.status), [204, 304, 200], "a 1xx is not the answer")
    }

    func testWhetherTheServerClosesTheConnection() throws {
        let close = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        XCTAssertEqual(try responses(close), [Response(status: 200, closesConnection: true)])
        let http10 = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"
        XCTAssertEqual(try responses(http10), [Response(status: 200, closesConnection: true)])
        let http10KeepAlive = "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"
        XCTAssertEqual(try responses(http10KeepAlive), [Response(status: 200, closesConnection: false)])
    }

    func testWhatItCannotFrameIsAFailure() {
        XCTAssertEqual(
            failure("HTTP/1.1 200 OK\r\n\r\n"),
            "a response whose body ends with the connection (neither Content-Length nor chunked)"
        )
        XCTAssertEqual(
            failure("SSH-2.0-OpenSSH\r\n\r\n"),
            "a response that does not start with an HTTP/1.x status line"
        )
        XCTAssertEqual(
            failure("HTTP/1.1 2x0 OK\r\n\r\n"),
            "a response that does not start with an HTTP/1.x status line"
        )
        XCTAssertEqual(
            failure("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
            "a response with a Content-Length that is not one number"
        )
        XCTAssertEqual(
            failure("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
            "a response with a Content-Length that is not one number"
        )
        XCTAssertEqual(
            failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            "a chunk size that is not hexadecimal"
        )
        XCTAssertEqual(
            failure("HTTP/1.1 200 OK\r\nX-Long: " + String(repeating: "a", count: HTTPResponseDecoder.maxHeadBytes)),
            "a response head over \(HTTPResponseDecoder.maxHeadBytes) bytes"
        )
        XCTAssertNil(failure("HTTP/1.1 200 OK\r\nContent-Le"), "a head in part waits for the rest")
    }

    // MARK: the order of answers

    private func answers(
        _ wire: inout HTTPLeanWire,
        _ text: String
    ) -> (slots: [Int], outcomes: [LoadOutcome], open: Bool) {
        var slots: [Int] = []
        var outcomes: [LoadOutcome] = []
        let used = Array(text.utf8).withUnsafeBytes { bytes in
            wire.takeAnswers(from: bytes) { slot, outcome in
                slots.append(slot)
                outcomes.append(outcome)
            }
        }
        return (slots, outcomes, used != nil)
    }

    private func wire(slotsSent: [Int]) throws -> HTTPLeanWire {
        var options = LoadConfiguration.Options(target: "http://127.0.0.1:8000/v1")
        (options.client, options.method) = ("lean", "complete")
        let configuration = try LoadConfiguration(options: options)
        let requests = configuration.prompts.map {
            HTTPPreparedRequest(
                prompt: $0,
                configuration: configuration,
                host: "127.0.0.1",
                port: 8000,
                path: "/v1/chat/completions"
            )
        }
        var wire = HTTPLeanWire(requests: requests, inFlight: 4)
        var output: [UInt8] = []
        for slot in slotsSent { wire.appendRequest(prompt: 0, slot: slot, to: &output) }
        return wire
    }

    func testTheRequestIsTheNIOClientsHeadAndBody() throws {
        var options = LoadConfiguration.Options(target: "http://[::1]:8000/v1")
        (options.client, options.method, options.apiKey, options.maxTokens) = ("lean", "complete", "sk-test", 16)
        let configuration = try LoadConfiguration(options: options)
        let request = HTTPPreparedRequest(
            prompt: "Say \"hi\"",
            configuration: configuration,
            host: "::1",
            port: 8000,
            path: "/v1/chat/completions"
        )
        let body = #"{"max_tokens":16,"messages":[{"content":"Say \"hi\"","role":"user"}],"model":"mock-model"}"#
        XCTAssertEqual(
            String(decoding: HTTPLeanWire.bytes(request), as: UTF8.self),
            "POST /v1/chat/completions HTTP/1.1\r\nhost: [::1]:8000\r\ncontent-type: application/json\r\n"
                + "content-length: \(body.utf8.count)\r\naccept: application/json\r\nauthorization: Bearer sk-test\r\n"
                + "\r\n" + body
        )
    }

    func testResponsesEndTheCallsInTheOrderTheyWereSent() throws {
        var wire = try wire(slotsSent: [2, 0, 3])
        let error = "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n"
        let first = answers(&wire, Self.ok + error)
        XCTAssertEqual(first.slots, [2, 0])
        XCTAssertEqual(first.outcomes, [.ok, .httpStatus(429)])
        XCTAssertTrue(first.open)
        // Slot 2 is free again and sent anew: it is behind slot 3 now (the ring wraps).
        var output: [UInt8] = []
        wire.appendRequest(prompt: 0, slot: 2, to: &output)
        wire.appendRequest(prompt: 0, slot: 1, to: &output)
        wire.appendRequest(prompt: 0, slot: 0, to: &output)
        let second = answers(&wire, Self.ok + Self.ok + Self.ok + Self.ok)
        XCTAssertEqual(second.slots, [3, 2, 1, 0])
        XCTAssertTrue(second.open)
    }

    func testAnAnswerToNoCallOrAClosingAnswerEndsTheConnection() throws {
        var idle = try wire(slotsSent: [])
        XCTAssertFalse(answers(&idle, Self.ok).open)
        var closing = try wire(slotsSent: [1, 2])
        let close = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        let result = answers(&closing, close + Self.ok)
        XCTAssertEqual(result.slots, [1], "the closing answer counts; the call behind it does not get one")
        XCTAssertFalse(result.open)
    }
}
