import Foundation
import PelletProviders
import XCTest

/// Base class of the tests that run a ``ProviderEngine`` against a scripted
/// ``LoopbackHTTPServer``: a fresh engine and server for each test, both stopped after it.
/// A subclass scripts the server's paths in ``route(_:_:)``.
class EngineTestCase: XCTestCase {
    var engine: ProviderEngine!
    var server: LoopbackHTTPServer!

    /// What the server does for `request`; by default, 404 for every path.
    class func route(_ request: LoopbackHTTPServer.Request, _ connection: Connection) {
        connection.respond(status: 404, body: "no route")
    }

    override func setUpWithError() throws {
        engine = try ProviderEngine(logger: makeTestLogger())
        let routes = Self.self
        server = try LoopbackHTTPServer { request, connection in
            routes.route(request, connection)
        }
    }

    override func tearDown() {
        engine?.shutdown()
        server?.stop()
        (engine, server) = (nil, nil)
    }

    /// Replaces the test's engine with one of `configuration`.
    func restartEngine(_ configuration: EngineConfiguration) throws {
        engine.shutdown()
        engine = try ProviderEngine(configuration: configuration, logger: makeTestLogger())
    }

    /// A request for `path` on the test's server.
    func request(
        _ path: String, method: HTTPRequest.Method = .get, headers: HTTPHeaders = [], body: String = "",
        timeout: Duration = .seconds(10)
    ) -> HTTPRequest {
        HTTPRequest(
            method: method, url: server.baseURL + path, headers: headers, body: Array(body.utf8), timeout: timeout)
    }

    /// Starts `request` on the test's engine; its handler records what comes back.
    @discardableResult
    func start(_ request: HTTPRequest) -> RecordingHandler {
        let handler = RecordingHandler()
        engine.start(request, handler: handler)
        return handler
    }

    /// Starts every one of `requests` before waiting for any, then waits for each to finish
    /// (failing the test for one that does not within `timeout`); their handlers, in order.
    func runAtOnce(
        _ requests: [HTTPRequest], timeout: Duration = .seconds(30), file: StaticString = #filePath,
        line: UInt = #line
    ) -> [RecordingHandler] {
        let handlers = requests.map { start($0) }
        for handler in handlers {
            handler.waitForResult(timeout: timeout, file: file, line: line)
        }
        return handlers
    }
}

extension RecordingHandler {
    /// How the transfer ended; nil while it runs.
    var result: TransferResult? { record.current.result }
}
