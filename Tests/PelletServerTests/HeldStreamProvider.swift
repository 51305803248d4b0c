import Foundation
import PelletTesting
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An OpenAI-compatible provider for one streamed chat completion that answers in two parts: the
/// response head and `first` at once, then `rest` only when the test calls ``release()`` (or
/// after `holdLimit`, so that a test that never releases still ends), and then closes the
/// connection. A test sees what the gateway passed on while the provider still held the rest.
///
/// Plain sockets and one thread, so the bytes and their order are exactly what the test wrote.
/// `@unchecked Sendable`: the listening socket is set once in `init`; the rest is atomics and a
/// semaphore.
final class HeldStreamProvider: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let gate = DispatchSemaphore(value: 0)
    private let sentRest = Atomic<Bool>(false)
    private let requests = Atomic<Int>(0)

    var baseURL: String { "http://127.0.0.1:\(port)/v1" }
    /// Whether `rest` has been written.
    var hasSentRest: Bool { sentRest.load(ordering: .acquiring) }
    /// Requests read so far.
    var requestCount: Int { requests.load(ordering: .relaxed) }

    init(first: String, rest: String, holdLimit: Duration = .seconds(10)) throws {
        (listener, port) = try loopbackListener(backlog: 16)
        let thread = Thread { [self] in serve(first: first, rest: rest, holdLimit: holdLimit) }
        thread.start()
    }

    /// Lets the provider send the rest of the stream.
    func release() {
        gate.signal()
    }

    /// Stops accepting (the serving thread ends at its next accept).
    func shutdown() {
        gate.signal()
        Glibc.shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve(first: String, rest: String, holdLimit: Duration) {
        let connection = accept(listener, nil, nil)
        guard connection >= 0 else { return }
        defer { close(connection) }
        guard readRequest(connection) else { return }
        requests.add(1, ordering: .relaxed)
        let head =
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n"
        guard write(connection, head + first) else { return }
        let seconds = holdLimit.components.seconds
        _ = gate.wait(timeout: .now() + .seconds(Int(seconds)))
        sentRest.store(true, ordering: .releasing)
        _ = write(connection, rest)
    }

    /// Reads one request: the head, then `content-length` bytes of body.
    private func readRequest(_ connection: Int32) -> Bool {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        let separator = Array("\r\n\r\n".utf8)
        while true {
            if let end = received.firstRange(of: separator)?.upperBound {
                let head = String(decoding: received[..<end], as: UTF8.self).lowercased()
                let length =
                    head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                if received.count - end >= length { return true }
            }
            let count = recv(connection, &buffer, buffer.count, 0)
            guard count > 0 else { return false }
            received.append(contentsOf: buffer[..<count])
        }
    }

    private func write(_ connection: Int32, _ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes {
                send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard count > 0 else { return false }
            offset += count
        }
        return true
    }

    /// One `data:` event of an OpenAI chat completion stream: a chunk with `choices`, and
    /// `extra` fields after them.
    private static func event(choices: String, extra: String = "") -> String {
        #"data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-oss-120b","choices":[\#(choices)]\#(extra)}"#
            + "\n\n"
    }

    private static func choice(delta: String, finishReason: String = "null") -> String {
        #"{"index":0,"delta":\#(delta),"finish_reason":\#(finishReason)}"#
    }

    /// The chunk that opens a stream: the role, no text.
    static let roleEvent = event(choices: choice(delta: #"{"role":"assistant","content":""}"#))

    static func contentEvent(_ text: String) -> String {
        event(choices: choice(delta: #"{"content":"\#(text)"}"#))
    }

    /// The finish reason, the usage and `[DONE]`.
    static func endEvents(promptTokens: Int, completionTokens: Int) -> String {
        let usage =
            #"{"prompt_tokens":\#(promptTokens),"completion_tokens":\#(completionTokens),"#
            + #""total_tokens":\#(promptTokens + completionTokens)}"#
        return event(choices: choice(delta: "{}", finishReason: #""stop""#))
            + event(choices: "", extra: #","usage":"# + usage) + "data: [DONE]\n\n"
    }
}
