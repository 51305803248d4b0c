import Foundation
import PelletProviders
import XCTest

/// The engine against a scripted HTTP/1.1 server on loopback.
final class ProviderEngineTests: EngineTestCase {
    /// What a path does, so that every test shares one server.
    override class func route(_ request: LoopbackHTTPServer.Request, _ connection: Connection) {
        switch request.path {
        case "/echo":
            // Echoes the method, a header and the body, so the test sees what was sent.
            let body =
                "\(request.method) \(request.headers["x-test"] ?? "-") \(request.headers["expect"] ?? "no-expect") "
                + String(decoding: request.body, as: UTF8.self)
            connection.respond(headers: [("Content-Type", "text/plain"), ("X-Reply", "yes")], body: body)
        case "/status/500":
            connection.respond(status: 500, body: "{\"error\":{\"message\":\"boom\"}}")
        case "/interim":
            connection.write("HTTP/1.1 100 Continue\r\n\r\n")
            connection.respond(status: 201, body: "after interim")
        case "/stream":
            // Two events; the second waits until the client has seen the first (`x-gate` names
            // the gate), which proves bytes are delivered as they arrive.
            connection.beginChunked()
            connection.writeChunk("data: one\n\n")
            if let name = request.headers["x-gate"] { Gates.shared.wait(name) }
            connection.writeChunk("data: two\n\ndata: [DONE]\n\n")
            connection.endChunked()
        case "/hang":
            // Sends nothing until the client goes away.
            if connection.waitForClientClose(timeout: .seconds(10)), let name = request.headers["x-gate"] {
                Gates.shared.open(name)
            }
            connection.closeNow()
        case "/stall":
            // Starts a body, then stalls.
            connection.beginChunked()
            connection.writeChunk("data: first\n\n")
            _ = connection.waitForClientClose(timeout: .seconds(10))
            connection.closeNow()
        case "/slow":
            Thread.sleep(forTimeInterval: 0.05)
            connection.respond(body: "slow")
        case "/counted":
            // Holds each request 200 ms and counts how many are in at once.
            ConcurrencyCounter.shared.enter()
            Thread.sleep(forTimeInterval: 0.2)
            ConcurrencyCounter.shared.leave()
            connection.respond(body: "counted")
        case "/close-midway":
            connection.beginChunked()
            connection.writeChunk("data: partial\n\n")
            connection.closeNow()
        default:
            super.route(request, connection)
        }
    }

    func testAPostIsSentAndTheWholeResponseComesBack() throws {
        let handler = RecordingHandler()
        let body = String(repeating: "0123456789", count: 300)  // above libcurl's old `Expect` threshold
        engine.start(request("/echo", method: .post, headers: [("X-Test", "42")], body: body), handler: handler)
        let result = try XCTUnwrap(handler.waitForResult())
        let record = handler.record.current
        XCTAssertEqual(record.status, 200)
        XCTAssertEqual(record.headers["x-reply"], "yes")
        XCTAssertEqual(record.headers.fields.first?.name, "content-type", "names are lower-cased")
        XCTAssertEqual(handler.bodyText, "POST 42 no-expect " + body)
        XCTAssertEqual(result.info?.status, 200)
        XCTAssertEqual(result.info?.httpVersion, 1, "plain http:// is HTTP/1.1")
        XCTAssertEqual(record.callsAfterFinish, 0)
        XCTAssertEqual(engine.transfersInFlight, 0)
    }

    func testAnErrorStatusIsACompletedTransfer() throws {
        let handler = start(request("/status/500"))
        XCTAssertEqual(try XCTUnwrap(handler.waitForResult()).info?.status, 500)
        XCTAssertEqual(handler.record.current.status, 500)
        XCTAssertEqual(handler.bodyText, "{\"error\":{\"message\":\"boom\"}}")
    }

    func testInterimResponsesAreSkipped() throws {
        let handler = start(request("/interim"))
        handler.waitForResult()
        XCTAssertEqual(handler.record.current.status, 201)
        XCTAssertEqual(handler.bodyText, "after interim")
    }

    func testStreamedBytesArriveBeforeTheResponseEnds() throws {
        let gate = "stream-\(UUID())"
        let handler = RecordingHandler { bytes in
            if String(decoding: bytes, as: UTF8.self).contains("one") { Gates.shared.open(gate) }
        }
        let started = ContinuousClock.now
        engine.start(request("/stream", headers: [("x-gate", gate)]), handler: handler)
        handler.waitForResult()
        XCTAssertLessThan(milliseconds(ContinuousClock.now - started), 4000, "the server's gate opened: no 5 s wait")
        XCTAssertEqual(handler.bodyText, "data: one\n\ndata: two\n\ndata: [DONE]\n\n")
        XCTAssertGreaterThanOrEqual(handler.record.current.bodyCallbacks, 2)
    }

    func testCancellingAHangingTransferIsFastAndClosesTheConnection() throws {
        let handler = RecordingHandler()
        let gate = "hang-\(UUID())"
        let handle = engine.start(request("/hang", headers: [("x-gate", gate)]), handler: handler)
        // Let the request reach the server.
        let deadline = ContinuousClock.now + .seconds(5)
        while server.requestsReceived == 0, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.005) }
        let cancelledAt = ContinuousClock.now
        handle.cancel()
        let result = try XCTUnwrap(handler.waitForResult())
        XCTAssertTrue(result.isCancelled, "\(result)")
        let elapsed = try XCTUnwrap(handler.record.current.finishedAt) - cancelledAt
        XCTAssertLessThan(milliseconds(elapsed), 50, "the handler heard of the cancellation within 50 ms")
        XCTAssertTrue(Gates.shared.wait(gate, timeout: .seconds(2)), "the server saw the connection close")
        // Cancelling again, or after the end, does nothing.
        handle.cancel()
        Thread.sleep(forTimeInterval: 0.02)
        XCTAssertEqual(handler.record.current.callsAfterFinish, 0)
    }

    func testTheTimeoutFailsTheTransfer() throws {
        let handler = RecordingHandler()
        let started = ContinuousClock.now
        engine.start(request("/hang", timeout: .milliseconds(200)), handler: handler)
        let result = try XCTUnwrap(handler.waitForResult())
        XCTAssertEqual(result.error?.kind, .timedOut, "\(result)")
        XCTAssertEqual(ProviderFailure(result.error!).status, .deadlineExceeded)
        let elapsed = milliseconds(ContinuousClock.now - started)
        XCTAssertGreaterThanOrEqual(elapsed, 190)
        XCTAssertLessThan(elapsed, 1000)
    }

    func testANonPositiveTimeoutFailsAtOnce() throws {
        let handler = start(request("/echo", timeout: .zero))
        XCTAssertEqual(try XCTUnwrap(handler.waitForResult()).error?.kind, .timedOut)
        XCTAssertEqual(server.requestsReceived, 0)
    }

    func testTheFirstByteTimeout() throws {
        let handler = RecordingHandler()
        var hanging = request("/hang")
        hanging.firstByteTimeout = .milliseconds(100)
        let started = ContinuousClock.now
        engine.start(hanging, handler: handler)
        let result = try XCTUnwrap(handler.waitForResult())
        XCTAssertEqual(result.error?.kind, .firstByteTimeout, "\(result)")
        XCTAssertLessThan(milliseconds(ContinuousClock.now - started), 600)
        XCTAssertEqual(ProviderFailure(result.error!).kind, .firstTokenTimeout)
    }

    func testTheIdleTimeout() throws {
        let handler = RecordingHandler()
        var stalling = request("/stall")
        stalling.firstByteTimeout = .seconds(5)
        stalling.idleTimeout = .milliseconds(150)
        engine.start(stalling, handler: handler)
        let result = try XCTUnwrap(handler.waitForResult())
        XCTAssertEqual(result.error?.kind, .idleTimeout, "\(result)")
        XCTAssertEqual(handler.bodyText, "data: first\n\n")
    }

    func testTimersDoNotFireOnAHealthyTransfer() throws {
        let handler = RecordingHandler()
        var slow = request("/slow")
        slow.firstByteTimeout = .seconds(2)
        slow.idleTimeout = .seconds(2)
        engine.start(slow, handler: handler)
        XCTAssertEqual(try XCTUnwrap(handler.waitForResult()).info?.status, 200)
    }

    func testAConnectionClosedMidResponseIsLost() throws {
        let handler = start(request("/close-midway"))
        let result = try XCTUnwrap(handler.waitForResult())
        XCTAssertEqual(result.error?.kind, .connectionLost, "\(result)")
        XCTAssertEqual(handler.bodyText, "data: partial\n\n")
    }

    func testARefusedConnection() throws {
        // A port that was just free: bind, read the port, close.
        let closed = try LoopbackHTTPServer { _, _ in }
        let port = closed.port
        closed.stop()
        let handler = RecordingHandler()
        engine.start(
            HTTPRequest(method: .get, url: "http://127.0.0.1:\(port)/", timeout: .seconds(5)), handler: handler)
        let result = try XCTUnwrap(handler.waitForResult())
        XCTAssertEqual(result.error?.kind, .connectionFailed, "\(result)")
        XCTAssertTrue(result.error?.message.contains("127.0.0.1") ?? false, "the detail names the address: \(result)")
    }

    func testABadURLAndAHeaderWithALineBreakAreRefused() throws {
        let badURL = RecordingHandler()
        engine.start(HTTPRequest(url: "gopher://example.com/", timeout: .seconds(1)), handler: badURL)
        XCTAssertEqual(try XCTUnwrap(badURL.waitForResult()).error?.kind, .invalidRequest)
        let badHeader = start(request("/echo", headers: [("X-Test", "a\r\nInjected: yes")]))
        XCTAssertEqual(try XCTUnwrap(badHeader.waitForResult()).error?.kind, .invalidRequest)
        XCTAssertEqual(server.requestsReceived, 0)
    }

    func testSequentialRequestsReuseOneConnection() throws {
        var newConnections: [Int] = []
        for _ in 0..<5 {
            let handler = start(request("/echo"))
            newConnections.append(try XCTUnwrap(handler.waitForResult()?.info).newConnections)
        }
        XCTAssertEqual(newConnections, [1, 0, 0, 0, 0])
        XCTAssertEqual(server.connectionsAccepted, 1)
    }

    /// Connections opened for a burst stay open through a quiet spell for the next burst:
    /// libcurl's default cache (4 × the transfers running) shrank to 4 while one call ran, so
    /// with HTTP/1.1 each dip in load closed connections the next burst had to open again.
    func testConnectionsOfABurstSurviveAQuietSpell() throws {
        func burst() {
            for handler in runAtOnce((0..<8).map { _ in request("/slow") }) {
                XCTAssertEqual(handler.result?.info?.status, 200)
            }
        }
        burst()
        let opened = server.connectionsAccepted
        XCTAssertGreaterThan(opened, 4, "the burst ran its calls at once, on connections of their own")
        for _ in 0..<6 {
            let handler = start(request("/echo"))
            XCTAssertEqual(try XCTUnwrap(handler.waitForResult()?.info).newConnections, 0)
        }
        burst()
        XCTAssertEqual(server.connectionsAccepted, opened, "the second burst reused the first one's connections")
    }

    /// Finished transfers' easy handles serve the next ones, and a reused handle carries nothing
    /// of its last transfer over: method, headers and body are each transfer's own.
    func testEasyHandlesAreReusedAndCarryNothingOver() throws {
        let requests = [
            request("/echo", method: .post, headers: [("X-Test", "1")], body: "first body"),
            request("/echo"),
            request("/echo", method: .post, body: "3"),
            request("/echo", headers: [("X-Test", "4")]),
            request("/status/500"),
            request("/echo", method: .post, body: "sixth"),
        ]
        var bodies: [String] = []
        for request in requests {
            let handler = start(request)
            _ = handler.waitForResult()
            bodies.append(handler.bodyText)
        }
        XCTAssertEqual(
            bodies,
            [
                "POST 1 no-expect first body", "GET - no-expect ", "POST - no-expect 3", "GET 4 no-expect ",
                "{\"error\":{\"message\":\"boom\"}}", "POST - no-expect sixth",
            ])
        XCTAssertEqual(engine.easyHandlesCreated, 1)
        XCTAssertEqual(server.connectionsAccepted, 1)
    }

    /// The provider thread carries its name where `top -H`, `perf` and tools/bench's per-thread
    /// CPU figures read it.
    func testTheProviderThreadIsNamedForTheKernel() throws {
        #if os(Linux)
        // A finished transfer proves the provider thread's loop runs, and it names itself first.
        let handler = start(request("/echo"))
        XCTAssertEqual(handler.waitForResult()?.info?.status, 200)
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")
        let names = tasks.compactMap { try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8) }
        XCTAssertTrue(names.contains("pellet-provider\n"), "\(Set(names))")
        #endif
    }

    func testTwoHundredConcurrentTransfersAllComplete() throws {
        let handlers = runAtOnce((0..<200).map { request("/echo", method: .post, body: "n\($0)") })
        for (index, handler) in handlers.enumerated() {
            XCTAssertEqual(handler.result?.info?.status, 200)
            XCTAssertEqual(handler.bodyText, "POST - no-expect n\(index)")
        }
        XCTAssertEqual(engine.transfersInFlight, 0)
    }

    /// Plain http:// is HTTP/1.1, which cannot multiplex: transfers started together must not
    /// wait for one connection (CURLOPT_PIPEWAIT is only for https), each gets its own.
    func testPlainHTTPTransfersStartedAtOnceReachTheServerConcurrently() throws {
        ConcurrencyCounter.shared.reset()
        for handler in runAtOnce((0..<50).map { _ in request("/counted") }) {
            XCTAssertEqual(handler.result?.info?.status, 200)
        }
        XCTAssertEqual(ConcurrencyCounter.shared.most, 50)
    }

    /// Past `maximumConnectionsPerHost`, transfers wait for a free connection instead of
    /// opening more; all of them still complete.
    func testConnectionsToOneHostStayWithinTheLimit() throws {
        try restartEngine(EngineConfiguration(maximumConnectionsPerHost: 8))
        ConcurrencyCounter.shared.reset()
        for handler in runAtOnce((0..<24).map { _ in request("/counted") }) {
            XCTAssertEqual(handler.result?.info?.status, 200)
        }
        XCTAssertEqual(ConcurrencyCounter.shared.most, 8)
        XCTAssertLessThanOrEqual(server.connectionsAccepted, 8)
    }

    func testStartingFromManyThreadsAtOnce() throws {
        let handlers = (0..<64).map { _ in RecordingHandler() }
        let engine = self.engine!
        let url = server.baseURL + "/echo"
        DispatchQueue.concurrentPerform(iterations: handlers.count) { index in
            engine.start(HTTPRequest(method: .get, url: url, timeout: .seconds(10)), handler: handlers[index])
        }
        for handler in handlers {
            XCTAssertEqual(handler.waitForResult()?.info?.status, 200)
        }
    }

    func testShutdownFailsTransfersInFlightAndLaterStartsFailAtOnce() throws {
        let handler = start(request("/hang"))
        let deadline = ContinuousClock.now + .seconds(5)
        while server.requestsReceived == 0, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.005) }
        engine.shutdown()
        XCTAssertEqual(handler.record.current.result?.error?.kind, .engineStopped, "finished before shutdown returned")
        let late = start(request("/echo"))
        XCTAssertEqual(late.record.current.result?.error?.kind, .engineStopped, "finished before start returned")
        engine.shutdown()  // idempotent
    }

    func testAHandlerMayStartAndCancelFromTheProviderThread() throws {
        let second = RecordingHandler()
        let engine = self.engine!
        let url = server.baseURL
        final class Chaining: TransferHandler {
            let engine: ProviderEngine
            let url: String
            let next: RecordingHandler
            init(engine: ProviderEngine, url: String, next: RecordingHandler) {
                self.engine = engine
                self.url = url
                self.next = next
            }
            func receivedStatus(_ status: Int, headers: HTTPHeaders) {}
            func receivedBody(_ bytes: UnsafeRawBufferPointer) {}
            func finished(_ result: TransferResult) {
                let handle = engine.start(HTTPRequest(url: url + "/hang", timeout: .seconds(10)), handler: next)
                handle.cancel()
            }
        }
        engine.start(
            HTTPRequest(method: .get, url: url + "/echo", timeout: .seconds(10)),
            handler: Chaining(engine: engine, url: url, next: second))
        XCTAssertTrue(try XCTUnwrap(second.waitForResult()).isCancelled)
    }
}

/// Named one-shot gates shared between a test and the server's route.
final class Gates: @unchecked Sendable {
    // @unchecked: `semaphores` is only touched with `lock` held.
    static let shared = Gates()
    private let lock = NSLock()
    private var semaphores: [String: DispatchSemaphore] = [:]

    private func semaphore(_ name: String) -> DispatchSemaphore {
        lock.withLock {
            if let existing = semaphores[name] { return existing }
            let created = DispatchSemaphore(value: 0)
            semaphores[name] = created
            return created
        }
    }

    func open(_ name: String) {
        semaphore(name).signal()
    }

    @discardableResult
    func wait(_ name: String, timeout: Duration = .seconds(5)) -> Bool {
        let milliseconds = Int(timeout.components.seconds * 1000)
        return semaphore(name).wait(timeout: .now() + .milliseconds(max(milliseconds, 1))) == .success
    }
}

/// How many `/counted` requests the server holds at once, and the most so far.
final class ConcurrencyCounter: @unchecked Sendable {
    // @unchecked: `now` and `most` are only touched with `lock` held.
    static let shared = ConcurrencyCounter()
    private let lock = NSLock()
    private var now = 0
    private var mostSoFar = 0

    func enter() { lock.withLock { now += 1; mostSoFar = max(mostSoFar, now) } }
    func leave() { lock.withLock { now -= 1 } }
    func reset() { lock.withLock { (now, mostSoFar) = (0, 0) } }
    var most: Int { lock.withLock { mostSoFar } }
}
