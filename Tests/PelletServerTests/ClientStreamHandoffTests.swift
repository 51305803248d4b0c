import NIOCore
import PelletServer
import PelletTesting
import PelletWire
import Synchronization
import XCTest

@testable import PelletClient

/// How PelletClient hands a stream's events to the caller: events already received are taken on
/// the caller's thread, the caller parks only when none is there, and the rules around that
/// (one waiter at a time, CANCEL when the task is cancelled) hold.
final class ClientStreamHandoffTests: XCTestCase {
    private let held = HeldService()
    private let heldStream = HeldStreamService()

    private func startServer(streamCount: Int) async throws -> TestServer {
        try await TestServer.start(services: [
            .complete: CountingStreamService(count: streamCount),
            .route: held,
            .usage: heldStream,
            .health: ImmediateStreamService(count: 300),
        ])
    }

    func testAStreamWhoseEventsAllArrivedBeforeIteratingIsReadInFullAndInOrder() async throws {
        let server = try await startServer(streamCount: 1)
        let client = try await server.client()
        var iterator = client.streamRaw(method: Method.health.rawValue, payload: ByteBuffer()).makeAsyncIterator()
        // The first event sends the call; the service writes every MESSAGE and the END before it
        // reads the PING sent after it, so once the PONG is back the rest waits in the client.
        var events = [try await iterator.next()]
        _ = try await client.ping()
        while let event = try await iterator.next() { events.append(event) }
        var deltas: [String] = []
        var final: CompleteResponse?
        for event in events {
            switch event {
            case .message(let payload): deltas.append(try CompleteChunk(decoding: payload).delta)
            case .end(let payload): final = try CompleteResponse(decoding: payload)
            case nil: XCTFail("the stream ended before its first event")
            }
        }
        XCTAssertEqual(deltas, (0..<300).map(String.init))
        XCTAssertEqual(final?.attempts, 300)
        let afterEnd = try await iterator.next()
        XCTAssertNil(afterEnd, "a stream that ended stays ended")
        await client.close()
        await server.shutdown()
    }

    func testEventsArrivingWhileTheCallerIteratesComeOnceAndInOrder() async throws {
        let count = 400
        let server = try await startServer(streamCount: count)
        for address in server.addresses {
            let client = try await server.client(address)
            for round in 0..<15 {
                var deltas: [String] = []
                var final: CompleteResponse?
                for try await event in client.completeStream(CompleteRequest()) {
                    switch event {
                    case .delta(let text): deltas.append(text)
                    case .done(let response): final = response
                    }
                }
                XCTAssertEqual(deltas, (0..<count).map(String.init), "round \(round) over \(address)")
                XCTAssertEqual(final?.attempts, UInt32(count))
            }
            await client.close()
        }
        await server.shutdown()
    }

    func testASecondNextWhileTheFirstWaitsFailsWithFailedPrecondition() async throws {
        let server = try await startServer(streamCount: 1)
        let client = try await server.client()
        let call = client.makeCall(
            OutboundRequest(method: Method.route.rawValue, flags: 0, timeout: nil, message: RouteRequest())
        )
        let first = Task { try await call.next() }
        try await waitUntil(held.startedCount == 1)
        do {
            _ = try await call.next()
            XCTFail("expected FAILED_PRECONDITION")
        } catch {
            XCTAssertEqual(error.status, .failedPrecondition)
        }
        // The first waiter is untouched and gets the answer.
        held.releaseAll(with: RouteResponse(decision: RouteDecision(model: "m")))
        guard case .end(let payload)? = try await first.value else { return XCTFail("expected the RESPONSE") }
        XCTAssertEqual(try RouteResponse(decoding: payload).decision?.model, "m")
        await client.close()
        await server.shutdown()
    }

    func testCancellingTheConsumingTaskMidStreamSendsCancel() async throws {
        let server = try await startServer(streamCount: 1)
        let client = try await server.client()
        let received = Mutex(0)
        let midStream = Task {
            for try await event in client.streamRaw(method: Method.usage.rawValue, payload: ByteBuffer()) {
                if case .message = event { received.withLock { $0 += 1 } }
            }
        }
        try await waitUntil(received.withLock { $0 } > 0)
        midStream.cancel()
        let result = await midStream.result
        XCTAssertEqual((result.failure as? RPCError)?.status, .cancelled)
        try await waitUntil(heldStream.cancellation != nil)
        XCTAssertEqual(heldStream.cancellation?.status, .cancelled, "the server saw the CANCEL")
        // The connection carries on.
        _ = try await client.ping()
        await client.close()
        await server.shutdown()
    }

    func testACancelledTaskGetsCancelledRatherThanTheEventsAlreadyReceived() async throws {
        let server = try await startServer(streamCount: 1)
        let client = try await server.client()
        let outcome = Task {
            var iterator = client.streamRaw(method: Method.usage.rawValue, payload: ByteBuffer()).makeAsyncIterator()
            _ = try await iterator.next()
            // The other two MESSAGEs were written with the first, before the PONG.
            _ = try await client.ping()
            withUnsafeCurrentTask { $0?.cancel() }
            return try await iterator.next()
        }
        let result = await outcome.result
        XCTAssertEqual((result.failure as? RPCError)?.status, .cancelled)
        try await waitUntil(heldStream.cancellation != nil)
        XCTAssertEqual(heldStream.cancellation?.status, .cancelled, "the server saw the CANCEL")
        await client.close()
        await server.shutdown()
    }
}

/// Streams `count` MESSAGE frames and the END in one event-loop task, right after the call has
/// started (messages sent from `handle` itself would precede the call): all are written before
/// the server reads the client's next frame.
private struct ImmediateStreamService: Service {
    let count: Int

    var streams: Bool { true }

    func handle(_ payload: ByteBuffer, context: CallContext) -> CallOutcome {
        let promise = context.eventLoop.makePromise(of: (any WireMessage).self)
        let count = self.count
        context.eventLoop.execute {
            for index in 0..<count { context.sendMessage(CompleteChunk(delta: "\(index)")) }
            promise.succeed(CompleteResponse(attempts: UInt32(count)))
        }
        return .pending(promise.futureResult)
    }
}

/// Streams three MESSAGEs ("held", "held", "held") and then stays in flight until the call is
/// cancelled, which it records.
private final class HeldStreamService: Service, Sendable {
    private let reason = Mutex<RPCError?>(nil)

    var streams: Bool { true }

    var cancellation: RPCError? { reason.withLock { $0 } }

    func handle(_ payload: ByteBuffer, context: CallContext) -> CallOutcome {
        let promise = context.eventLoop.makePromise(of: (any WireMessage).self)
        context.cancellation.onCancel { [self] error in
            reason.withLock { $0 = error }
            promise.fail(error)
        }
        context.eventLoop.execute {
            for _ in 0..<3 { context.sendMessage(CompleteChunk(delta: "held")) }
        }
        return .pending(promise.futureResult)
    }
}
