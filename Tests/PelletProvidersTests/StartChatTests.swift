import Foundation
import NIOCore
import NIOPosix
import PelletProviders
import PelletWire
import XCTest

/// `ProviderEngine.startChat`: events decoded and delivered on the caller's event loop.
final class StartChatTests: XCTestCase {
    nonisolated(unsafe) private static var mock: MockProviderProcess?
    private var engine: ProviderEngine!
    private var group: MultiThreadedEventLoopGroup!

    override class func tearDown() {
        mock?.stop()
        mock = nil
    }

    override func setUpWithError() throws {
        if Self.mock == nil {
            Self.mock = try MockProviderProcess()
        }
        engine = try ProviderEngine(logger: makeTestLogger())
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    override func tearDownWithError() throws {
        engine.shutdown()
        try group.syncShutdownGracefully()
        (engine, group) = (nil, nil)
    }

    /// Starts a chat on the loop and collects its events there; returns once the terminal event came.
    private func run(
        _ model: String, stream: Bool, timeout: Duration = .seconds(10), cancelAfterFirstDelta: Bool = false
    ) throws -> [ChatResponseDecoder.Event] {
        let loop = group.next()
        let engine = self.engine!
        let provider = Self.mock!.provider(.fireworks)
        let chat = ChatRequest(
            model: model, messages: [ChatMessage(role: "user", content: "Hi there")], stream: stream)
        let promise = loop.makePromise(of: [ChatResponseDecoder.Event].self)
        loop.execute {
            var events: [ChatResponseDecoder.Event] = []
            var handle: TransferHandle?
            handle = engine.startChat(chat, provider: provider, timeout: timeout, on: loop) { event in
                loop.preconditionInEventLoop()
                events.append(event)
                switch event {
                case .delta:
                    if cancelAfterFirstDelta { handle?.cancel() }
                case .completed, .failed:
                    promise.succeed(events)
                }
            }
        }
        return try promise.futureResult.wait()
    }

    func testAStreamOnTheEventLoop() throws {
        let events = try run("mock-small@mock-behavior=tokens=5", stream: true)
        XCTAssertEqual(events.filter { if case .delta = $0 { true } else { false } }.count, 5)
        guard case .completed(let completion) = events.last else { return XCTFail("\(events)") }
        XCTAssertEqual(completion.usage?.completionTokens, 5)
    }

    func testAUnaryCallOnTheEventLoop() throws {
        let events = try run("mock-medium", stream: false)
        guard events.count == 1, case .completed(let completion) = events[0] else { return XCTFail("\(events)") }
        XCTAssertFalse(completion.content.isEmpty)
    }

    func testCancelMidStreamEndsWithCancelled() throws {
        let events = try run("mock-small@mock-behavior=tps=20,tokens=50", stream: true, cancelAfterFirstDelta: true)
        XCTAssertEqual(failure(events.last)?.kind, .cancelled, "\(events)")
    }

    func testAMalformedChunkCancelsTheTransfer() throws {
        let events = try run("mock-small@mock-behavior=malformed", stream: true)
        XCTAssertEqual(failure(events.last)?.kind, .malformedResponse)
        let deadline = ContinuousClock.now + .seconds(2)
        while engine.transfersInFlight > 0, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.005) }
        XCTAssertEqual(engine.transfersInFlight, 0)
    }
}
