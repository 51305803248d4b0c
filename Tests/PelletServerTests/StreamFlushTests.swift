import Foundation
import NIOCore
import NIOPosix
import PelletClient
import PelletServer
import PelletTesting
import PelletWire
import XCTest

/// `CallContext.flushMessages()` against a real server: the MESSAGE frames written so far reach
/// the client at once, while the task that wrote them still runs (as a Complete call's metering
/// commit runs on the event loop after its last chunks). Without it they would leave only when
/// that task ends.
final class StreamFlushTests: XCTestCase {
    /// Streams one chunk, flushes, then holds its event loop (bounded) until the test has
    /// seen the chunk arrive, and answers whether it had.
    private final class SlowAfterChunkService: Service {
        let chunkSeen = DispatchSemaphore(value: 0)
        let flushes: Bool
        var streams: Bool { true }

        init(flushes: Bool) {
            self.flushes = flushes
        }

        func handle(_ payload: ByteBuffer, context: CallContext) -> CallOutcome {
            let promise = context.eventLoop.makePromise(of: (any WireMessage).self)
            // A task of its own, as a provider's events are: not inside the read of the request.
            context.eventLoop.execute { [chunkSeen, flushes] in
                context.sendMessage(CompleteChunk(delta: "first"))
                if flushes { context.flushMessages() }
                // Work that the chunk need not wait for, holding this loop.
                let seen = chunkSeen.wait(timeout: .now() + .seconds(flushes ? 10 : 1)) == .success
                promise.succeed(CompleteResponse(finishReason: seen ? "seen" : "unseen"))
            }
            return .pending(promise.futureResult)
        }
    }

    private func run(flushes: Bool) async throws -> (chunks: [String], finishReason: String?) {
        let service = SlowAfterChunkService(flushes: flushes)
        let server = try await TestServer.start(services: [.complete: service])
        // The client on a thread of its own: the server's loop is held by the service.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var chunks: [String] = []
        var finishReason: String?
        do {
            let client = try await PelletClient.connect(to: server.unixAddress, group: group)
            do {
                for try await event in client.completeStream(CompleteRequest()) {
                    switch event {
                    case .delta(let text):
                        chunks.append(text)
                        service.chunkSeen.signal()
                    case .done(let response):
                        finishReason = response.finishReason
                    }
                }
            } catch {
                await client.close()
                throw error
            }
            await client.close()
        } catch {
            await server.shutdown()
            try await group.shutdownGracefully()
            throw error
        }
        await server.shutdown()
        try await group.shutdownGracefully()
        return (chunks, finishReason)
    }

    func testFlushedMessagesReachTheClientWhileTheirTaskStillRuns() async throws {
        let (chunks, finishReason) = try await run(flushes: true)
        XCTAssertEqual(chunks, ["first"])
        XCTAssertEqual(finishReason, "seen", "the chunk waited for the end of the task that wrote it")
    }

    /// The other side of the same fact: without the flush the chunk leaves with the task's end
    /// (here after the service gave up waiting), so the test above sees what the flush does.
    func testUnflushedMessagesLeaveWhenTheirTaskEnds() async throws {
        let (chunks, finishReason) = try await run(flushes: false)
        XCTAssertEqual(chunks, ["first"])
        XCTAssertEqual(finishReason, "unseen")
    }
}
