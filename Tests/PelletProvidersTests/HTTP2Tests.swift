import Foundation
import PelletProviders
import XCTest

/// HTTP/2 over TLS, as the real providers speak it: multiplexing on one connection, and a
/// cancellation that resets one stream and keeps the connection.
///
/// The server is Node's built-in `http2` module with a throw-away self-signed certificate, so
/// these tests need `node` and `openssl` on the PATH: `tools/install-deps` installs them (Debian's
/// `nodejs` and `openssl`), and without them the tests fail saying so rather than skip, so that
/// no machine passes without testing the path to the real providers.
final class HTTP2Tests: XCTestCase {
    private var directory: URL!
    private var server: Process?
    private var baseURL = ""
    private var engine: ProviderEngine!

    static let serverScript = #"""
        const http2 = require('http2');
        const fs = require('fs');
        const server = http2.createSecureServer({
          key: fs.readFileSync(process.argv[2]), cert: fs.readFileSync(process.argv[3]),
        });
        let sessions = 0, streams = 0, resets = 0;
        server.on('session', () => { sessions++; });
        server.on('stream', (stream, headers) => {
          const path = headers[':path'];
          if (path === '/stats') {
            stream.respond({ ':status': 200, 'content-type': 'application/json' });
            stream.end(JSON.stringify({ sessions, streams, resets }));
            return;
          }
          streams++;
          stream.on('error', () => {});  // a reset by the client
          stream.on('close', () => { if (stream.rstCode) resets++; });
          if (path === '/hang') {
            stream.respond({ ':status': 200, 'content-type': 'text/event-stream' });
            stream.write(': started\n\n');
            return;
          }
          const body = [];
          stream.on('data', (chunk) => body.push(chunk));
          stream.on('end', () => setTimeout(() => {
            stream.respond({ ':status': 200, 'content-type': 'text/plain' });
            stream.end('ok ' + Buffer.concat(body).length);
          }, 100));
        });
        server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
        """#

    override func setUpWithError() throws {
        guard let node = Self.find("node"), let openssl = Self.find("openssl") else {
            throw SetupFailure("node and openssl are needed for the HTTP/2 tests; run tools/install-deps")
        }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pellet-h2-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let key = directory.appendingPathComponent("key.pem").path
        let certificate = directory.appendingPathComponent("cert.pem").path
        let script = directory.appendingPathComponent("server.js")
        try Self.serverScript.write(to: script, atomically: true, encoding: .utf8)

        let generate = Process()
        generate.executableURL = openssl
        generate.arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
            "-out", certificate, "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ]
        generate.standardOutput = FileHandle.nullDevice
        generate.standardError = FileHandle.nullDevice
        try generate.run()
        generate.waitUntilExit()
        guard generate.terminationStatus == 0 else { throw SetupFailure("openssl could not make a certificate") }

        let process = Process()
        process.executableURL = node
        process.arguments = [script.path, key, certificate]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        server = process
        let line = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        guard
            let port = line.split(separator: " ").last.flatMap({
                Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
            })
        else {
            throw SetupFailure("the node HTTP/2 server did not start: \(line)")
        }
        baseURL = "https://127.0.0.1:\(port)"
        engine = try ProviderEngine(
            configuration: EngineConfiguration(caCertificatesPath: certificate), logger: makeTestLogger())
    }

    override func tearDown() {
        engine?.shutdown()
        server?.terminate()
        server?.waitUntilExit()
        if let directory { try? FileManager.default.removeItem(at: directory) }
        (engine, server) = (nil, nil)
    }

    func testConcurrentTransfersShareOneConnection() throws {
        let handlers = (0..<20).map { _ in RecordingHandler() }
        for (index, handler) in handlers.enumerated() {
            engine.start(
                HTTPRequest(url: baseURL + "/echo", body: Array("body \(index)".utf8), timeout: .seconds(10)),
                handler: handler)
        }
        for (index, handler) in handlers.enumerated() {
            let info = try XCTUnwrap(handler.waitForResult()?.info, "transfer \(index)")
            XCTAssertEqual(info.status, 200)
            XCTAssertEqual(info.httpVersion, 2)
            XCTAssertEqual(handler.bodyText, "ok \("body \(index)".utf8.count)")
        }
        XCTAssertEqual(handlers.map { $0.record.current.result?.info?.newConnections ?? -1 }.reduce(0, +), 1)
        let stats = try serverStats()
        XCTAssertEqual(stats["sessions"], 1, "\(stats)")
        XCTAssertEqual(stats["streams"], 20, "\(stats)")
    }

    func testCancellingResetsOnlyThatStream() throws {
        let started = DispatchSemaphore(value: 0)
        let hanging = RecordingHandler { _ in started.signal() }
        let handle = engine.start(
            HTTPRequest(method: .get, url: baseURL + "/hang", timeout: .seconds(10)), handler: hanging)
        XCTAssertEqual(started.wait(timeout: .now() + .seconds(5)), .success)
        let cancelledAt = ContinuousClock.now
        handle.cancel()
        XCTAssertTrue(try XCTUnwrap(hanging.waitForResult()).isCancelled)
        XCTAssertLessThan(milliseconds(try XCTUnwrap(hanging.record.current.finishedAt) - cancelledAt), 50)

        let next = RecordingHandler()
        engine.start(HTTPRequest(url: baseURL + "/echo", body: [1, 2, 3], timeout: .seconds(10)), handler: next)
        XCTAssertEqual(try XCTUnwrap(next.waitForResult()?.info).newConnections, 0, "the connection survived")
        let stats = try serverStats()
        XCTAssertEqual(stats["sessions"], 1, "\(stats)")
        XCTAssertEqual(stats["resets"], 1, "\(stats)")
    }

    private func serverStats() throws -> [String: Int] {
        let handler = RecordingHandler()
        engine.start(HTTPRequest(method: .get, url: baseURL + "/stats", timeout: .seconds(5)), handler: handler)
        handler.waitForResult()
        let object = try JSONSerialization.jsonObject(with: Data(handler.record.current.body))
        return try XCTUnwrap(object as? [String: Int], handler.bodyText)
    }

    private static func find(_ tool: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(tool)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }
}

/// A missing tool or a server that did not start: the test fails with this sentence.
private struct SetupFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
