import Logging
import NIOCore
import NIOEmbedded
import PelletClient
import PelletTesting
import PelletWire
import XCTest

@testable import PelletServer

/// Many calls sent at once on one connection: every one answered, in order, on its own stream,
/// and the answers of one read leave together (one buffer, one flush), not one write each.
final class PipelinedCallTests: XCTestCase {
    private var server: TestServer!
    private var apiKey = ""

    override func setUp() async throws {
        server = try await TestServer.start()
        let account = try await server.store.createAccount(Account(name: "Pipeline", email: "pipeline@example.com"))
        apiKey = try await server.store.createKey(accountID: account.id, name: "pipeline").plaintext
    }

    override func tearDown() async throws {
        await server?.shutdown()
        server = nil
    }

    private func routeRequest(_ index: Int) -> RouteRequest {
        let prompts = [
            "Write a Swift function that reverses a linked list.",
            "Translate 'good morning' into French.",
            "Summarize the plot of Hamlet in two sentences.",
            "What is the capital of Australia?",
        ]
        return RouteRequest(
            credentials: Credentials(apiKey: apiKey),
            messages: [ChatMessage(role: "user", content: prompts[index % prompts.count])],
            maxTokens: 128
        )
    }

    /// 64 Route calls in one write (every eighth with a payload that is not a RouteRequest):
    /// 64 RESPONSE frames in the order sent, each on its call's stream with its own status, and
    /// each decision the one the same request gets alone.
    func testABurstOfRouteCallsIsAnsweredCompletelyInOrder() async throws {
        let client = try await server.client()
        var expected: [String: RouteDecision] = [:]
        for index in 0..<4 {
            expected[routeRequest(index).messages[0].content] = try await client.route(routeRequest(index)).decision
        }
        await client.close()

        for address in server.addresses {
            let connection = try server.rawConnection(address)
            var burst = ByteBuffer()
            for index in 0..<64 {
                let stream = UInt32(2 * index + 1)
                if index % 8 == 7 {
                    burst.writeFrame(FrameHeader(type: .request, method: Method.route.rawValue, stream: stream), payload: ByteBuffer(bytes: [0x0A, 0xFF, 0x01]))
                } else {
                    burst.writeFrame(FrameHeader(type: .request, method: Method.route.rawValue, stream: stream), message: routeRequest(index))
                }
            }
            try connection.send(Array(burst.readableBytesView))

            for index in 0..<64 {
                let frame = try connection.readFrame()
                XCTAssertEqual(frame.header.type, .response)
                XCTAssertEqual(frame.header.stream, UInt32(2 * index + 1), "answers come in the order of the calls")
                if index % 8 == 7 {
                    XCTAssertEqual(frame.header.value, Status.invalidArgument.rawValue)
                    let error = try ErrorPayload(decoding: frame.payload)
                    XCTAssertTrue(error.message.contains("Route request"), error.message)
                } else {
                    XCTAssertEqual(frame.header.value, Status.ok.rawValue)
                    let decision = try XCTUnwrap(try RouteResponse(decoding: frame.payload).decision)
                    XCTAssertEqual(decision, expected[routeRequest(index).messages[0].content])
                }
            }
        }
    }

    /// The same calls sent a few bytes at a time, frames split across reads: each is answered
    /// once it is whole.
    func testCallsSplitAcrossReadsAreAnswered() async throws {
        let connection = try server.rawConnection()
        var bytes = ByteBuffer()
        for index in 0..<6 {
            bytes.writeFrame(FrameHeader(type: .request, method: Method.route.rawValue, stream: UInt32(2 * index + 1)), message: routeRequest(index))
        }
        let all = Array(bytes.readableBytesView)
        var offset = 0
        while offset < all.count {
            let end = min(offset + 37, all.count)
            try connection.send(Array(all[offset..<end]))
            offset = end
            try await Task.sleep(for: .milliseconds(1))
        }
        for index in 0..<6 {
            let frame = try connection.readFrame()
            XCTAssertEqual(frame.header.stream, UInt32(2 * index + 1))
            XCTAssertEqual(frame.header.value, Status.ok.rawValue)
            XCTAssertNotNil(try RouteResponse(decoding: frame.payload).decision)
        }
    }

    /// In the pipeline itself: one read holding the preface and 32 calls gives one buffer on the
    /// way out, flushed once, with the preface and the 32 answers in order.
    func testTheAnswersOfOneReadLeaveInOneBufferWithOneFlush() throws {
        let flushes = FlushCounter()
        let handler = ConnectionHandler(
            services: ServiceTable([.health: ImmediateService()]),
            settings: .init(defaultTimeout: .seconds(5), maxFrameBytes: 1 << 20, limits: .init()),
            metrics: ServerMetrics(), transport: .unix, accessLog: nil, logger: Logger(label: "test"))
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers(flushes, handler)

        var read = ByteBuffer(bytes: Preface.bytes)
        for index in 0..<32 {
            read.writeFrame(FrameHeader(type: .request, method: Method.health.rawValue, stream: UInt32(2 * index + 1)), message: HealthRequest())
        }
        try channel.writeInbound(read)

        var written = try XCTUnwrap(try channel.readOutbound(as: ByteBuffer.self))
        XCTAssertNil(try channel.readOutbound(as: ByteBuffer.self), "one buffer for the whole read")
        XCTAssertEqual(flushes.count, 1, "one flush for 32 answers")
        XCTAssertEqual(written.readBytes(length: Preface.bytes.count), Preface.bytes)
        let answers = try Self.healthAnswers(in: &written)
        XCTAssertEqual(answers.map(\.stream), (0..<32).map { UInt32(2 * $0 + 1) })
        XCTAssertEqual(answers.map(\.version), Array(repeating: "now", count: 32))
        _ = try channel.finish()
    }

    /// Outside a read: calls answered later, several in one batch of event-loop tasks (a provider
    /// hand-over completing them), leave in one buffer with one flush once the batch has run, in
    /// the order they were answered.
    func testAnswersCompletedTogetherOutsideAReadLeaveInOneBufferWithOneFlush() throws {
        let flushes = FlushCounter()
        let channel = EmbeddedChannel()
        let held = HeldService(eventLoop: channel.embeddedEventLoop)
        let handler = ConnectionHandler(
            services: ServiceTable([.health: held]),
            settings: .init(defaultTimeout: .seconds(5), maxFrameBytes: 1 << 20, limits: .init()),
            metrics: ServerMetrics(), transport: .unix, accessLog: nil, logger: Logger(label: "test"))
        try channel.pipeline.syncOperations.addHandlers(flushes, handler)

        var read = ByteBuffer(bytes: Preface.bytes)
        for index in 0..<8 {
            read.writeFrame(FrameHeader(type: .request, method: Method.health.rawValue, stream: UInt32(2 * index + 1)), message: HealthRequest())
        }
        try channel.writeInbound(read)
        var preface = try XCTUnwrap(try channel.readOutbound(as: ByteBuffer.self), "the preface leaves with the read")
        XCTAssertEqual(preface.readBytes(length: Preface.bytes.count), Preface.bytes)
        XCTAssertEqual(flushes.count, 1)
        XCTAssertEqual(held.promises.count, 8)

        // Answered in reverse order, in one task as a provider's hand-over would.
        channel.embeddedEventLoop.execute {
            for (index, promise) in held.promises.enumerated().reversed() {
                promise.succeed(HealthResponse(version: "answer \(index)"))
            }
        }
        channel.embeddedEventLoop.run()

        var written = try XCTUnwrap(try channel.readOutbound(as: ByteBuffer.self), "the answers were written")
        XCTAssertNil(try channel.readOutbound(as: ByteBuffer.self), "one buffer for the eight answers")
        XCTAssertEqual(flushes.count, 2, "one flush for the eight answers")
        let answers = try Self.healthAnswers(in: &written)
        XCTAssertEqual(answers.map(\.stream), (0..<8).reversed().map { UInt32(2 * $0 + 1) })
        XCTAssertEqual(answers.map(\.version), (0..<8).reversed().map { "answer \($0)" })
        _ = try channel.finish()
    }

    /// The RESPONSE frames that fill `written` (after the preface): each one's stream and version.
    private static func healthAnswers(in written: inout ByteBuffer) throws -> [(stream: UInt32, version: String)] {
        var decoder = FrameDecoder()
        var preface = ByteBuffer(bytes: Preface.bytes)
        _ = try decoder.next(from: &preface)
        var answers: [(stream: UInt32, version: String)] = []
        while written.readableBytes > 0 {
            guard case .frame(let frame) = try decoder.next(from: &written) else {
                XCTFail("a partial frame after \(answers.count) answers")
                break
            }
            XCTAssertEqual(frame.header.type, .response)
            answers.append((frame.header.stream, try HealthResponse(decoding: frame.payload).version))
        }
        return answers
    }
}

/// Answers later: keeps each call's promise for the test to complete.
private final class HeldService: Service, @unchecked Sendable {
    let eventLoop: any EventLoop
    private(set) var promises: [EventLoopPromise<any WireMessage>] = []

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func handle(_ payload: ByteBuffer, context: CallContext) -> CallOutcome {
        let promise = eventLoop.makePromise(of: (any WireMessage).self)
        promises.append(promise)
        return .pending(promise.futureResult)
    }
}

/// Answers at once, on the event loop.
private struct ImmediateService: Service {
    func handle(_ payload: ByteBuffer, context: CallContext) -> CallOutcome {
        .reply(HealthResponse(version: "now"))
    }
}

/// Counts the flushes that pass it on their way to the socket.
private final class FlushCounter: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = ByteBuffer
    private(set) var count = 0

    func flush(context: ChannelHandlerContext) {
        count += 1
        context.flush()
    }
}
