import Foundation
import PelletClient
import PelletMockProvider
import PelletTesting
import PelletWire
import XCTest

/// A client that opens a long streamed completion and does not read it: pelletd pauses the
/// provider transfer instead of queueing the stream in memory, and when the client reads at
/// last, every piece arrives, in order.
final class SlowReaderTests: XCTestCase {
    private let adminToken = "slow-reader-admin-token-0123456789"
    /// Pieces per stream, of `wordsPerPiece` words (~200 bytes, its MESSAGE frame ~220): three
    /// streams make about 10 MB of frames. In pieces of one word it would be 390,000 events,
    /// which a debug pelletd takes a minute to pass on; the bytes are what is bounded here.
    private static let pieces = 15_000
    private static let wordsPerPiece = 32
    private static let streams: [UInt32] = [1, 3, 5]

    private static func residentBytes(of pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let kilobytes = status.firstMatch(of: #/VmRSS:\s*(\d+) kB/#).flatMap { Int($0.1) } ?? 0
        return kilobytes * 1024
    }

    func testAStreamToAClientThatDoesNotReadPausesTheProviderInsteadOfQueueing() async throws {
        guard FileManager.default.fileExists(atPath: "/proc/self/status") else { throw XCTSkip("needs /proc") }
        var behavior = MockBehavior()
        behavior.completionTokens = Self.pieces
        behavior.wordsPerPiece = Self.wordsPerPiece
        let providers = try await MockProviders.start(behavior)
        defer { providers.shutdownLater() }
        var arguments = providers.arguments
        // Long enough that no deadline or stream timeout ends a paused call.
        arguments += [
            "--stream-idle-timeout-ms", "300000", "--first-token-timeout-ms", "300000", "--default-timeout-ms", "600000",
        ]
        let environment = [
            "PELLET_ADMIN_TOKEN": adminToken, "TOGETHER_API_KEY": "mock", "FIREWORKS_API_KEY": "mock",
            "GROQ_API_KEY": "mock",
        ]
        let pelletd = try PelletdProcess.start(arguments: arguments, environment: environment)
        defer { _ = try? pelletd.stop() }
        let client = try await PelletClient.connect(to: .unix(path: try XCTUnwrap(pelletd.unixPath)))
        let admin = Credentials(adminToken: adminToken)
        let account = try await client.account(
            AccountRequest(credentials: admin, op: .create(Account(name: "Slow Reader", email: "slow@example.com"))))
        let apiKey = try await client.account(
            AccountRequest(
                credentials: admin, op: .createKey(CreateKey(accountId: try XCTUnwrap(account.account?.id), name: "slow")))
        ).apiKey
        func prompt(_ stream: UInt32) -> String { "Tell a very long story, number \(stream)." }
        func request(_ stream: UInt32, maxTokens: Int = Self.pieces) -> CompleteRequest {
            CompleteRequest(
                credentials: Credentials(apiKey: apiKey),
                messages: [ChatMessage(role: "user", content: prompt(stream))],
                model: "gpt-oss-120b",
                maxTokens: UInt32(maxTokens)
            )
        }
        // A short stream first, so that the baseline has the engine and a provider connection;
        // read at once, it also shows that the mock's answer is the one expected below.
        var short = ""
        for try await event in client.completeStream(request(0, maxTokens: 16)) {
            if case .delta(let text) = event { short += text }
        }
        XCTAssertEqual(short, behavior.content(answering: prompt(0), maxTokens: 16))

        let pid = pelletd.subprocess.processIdentifier
        let before = Self.residentBytes(of: pid)
        let reader = try RawConnection(.unix(path: try XCTUnwrap(pelletd.unixPath)), receiveTimeout: .seconds(120))
        try reader.sendPreface()
        for stream in Self.streams {
            try reader.sendRequest(Method.complete.rawValue, stream: stream, message: request(stream), flags: FrameHeader.streamFlag)
        }
        var peak = before
        for _ in 0..<20 {
            try await Task.sleep(for: .milliseconds(250))
            peak = max(peak, Self.residentBytes(of: pid))
        }
        print("slow reader: pelletd VmRSS \(before / 1024) kB before, peak \(peak / 1024) kB over 5 s unread (+\((peak - before) / 1024) kB)")
        // A sanitizer's shadow memory and AddressSanitizer's quarantine (freed memory kept
        // resident) make pelletd's RSS say nothing under `tools/test --sanitize`: the memory
        // bounds are checked only without one; the streams must still arrive whole.
        let measuresMemory = ProcessInfo.processInfo.environment["PELLET_SANITIZER"] == nil
        if measuresMemory {
            XCTAssertLessThan(peak - before, 5 << 20, "pelletd queued the unread stream")
        }

        // Then the client reads as fast as it can: pelletd decodes more slowly than the provider
        // sends, and its hand-off from the provider thread must not take up the slack.
        XCTAssertEqual(try reader.readPreface(), Preface.bytes)
        var received: [UInt32: String] = [:]
        var ended = 0
        var bytes = 0
        var frames = 0
        var readingPeak = before
        let readStart = ContinuousClock.now
        while ended < Self.streams.count {
            frames += 1
            if frames % 500 == 0 { readingPeak = max(readingPeak, Self.residentBytes(of: pid)) }
            let frame = try reader.readFrame()
            XCTAssertTrue(Self.streams.contains(frame.header.stream))
            bytes += FrameHeader.size + frame.payload.readableBytes
            if frame.header.type == .end {
                XCTAssertEqual(frame.header.value, Status.ok.rawValue, (try? ErrorPayload(decoding: frame.payload).message) ?? "")
                ended += 1
            } else {
                received[frame.header.stream, default: ""] += try CompleteChunk(decoding: frame.payload).delta
            }
        }
        print(
            "slow reader: read \(bytes) bytes of frames in \(ContinuousClock.now - readStart); "
                + "pelletd VmRSS peak \(readingPeak / 1024) kB while reading (+\((readingPeak - before) / 1024) kB)")
        if measuresMemory {
            XCTAssertLessThan(readingPeak - before, 5 << 20, "pelletd queued the stream read at full speed")
        }

        // The mock answers a prompt with the same pieces every time: each stream read late is whole
        // and in order.
        for stream in Self.streams {
            let expected = behavior.content(answering: prompt(stream), maxTokens: Self.pieces)
            XCTAssertEqual(received[stream]?.utf8.count, expected.utf8.count, "stream \(stream)")
            XCTAssertTrue(received[stream] == expected, "stream \(stream) read late differs from the mock's answer")
        }
        await client.close()
    }
}
