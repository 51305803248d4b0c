import Foundation
import PelletTesting

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A minimal HTTP/1.1 server on 127.0.0.1 for engine tests, on plain sockets and threads, so
/// the tests script the exact bytes and timing of a response (a chunk, a pause, a hang) and see
/// what the client does to the connection.
///
/// One thread accepts; one thread per connection reads requests (keep-alive) and runs the
/// route, which writes the response through the ``Connection``.
///
/// `@unchecked Sendable`: the mutable counters are behind `lock`; the listening socket is set
/// once in `init`.
final class LoopbackHTTPServer: @unchecked Sendable {
    struct Request: Sendable {
        var method: String
        var path: String
        /// Names lower-cased.
        var headers: [String: String]
        var body: [UInt8]
    }

    typealias Route = @Sendable (Request, Connection) -> Void

    let port: Int
    private let listener: Int32
    private let route: Route
    private let lock = NSLock()
    private var accepted = 0
    private var closedByClient = 0
    private var requests = 0
    private var connections: [Connection] = []

    var baseURL: String { "http://127.0.0.1:\(port)" }

    init(route: @escaping Route) throws {
        self.route = route
        (listener, port) = try loopbackListener(backlog: 1024)
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "loopback-http-accept"
        thread.start()
    }

    /// Connections accepted so far.
    var connectionsAccepted: Int { lock.withLock { accepted } }
    /// Connections the client closed (read returned end of file or an error).
    var connectionsClosedByClient: Int { lock.withLock { closedByClient } }
    var requestsReceived: Int { lock.withLock { requests } }

    /// Closes the listener and every connection.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for connection in lock.withLock({ connections }) {
            connection.closeNow()
        }
    }

    private func acceptLoop() {
        while true {
            let descriptor = accept(listener, nil, nil)
            guard descriptor >= 0 else {
                if errno == EINTR { continue }
                return
            }
            let connection = Connection(descriptor: descriptor)
            lock.withLock {
                accepted += 1
                connections.append(connection)
            }
            let thread = Thread { [self] in serve(connection) }
            thread.start()
        }
    }

    private func serve(_ connection: Connection) {
        while let request = connection.readRequest() {
            lock.withLock { requests += 1 }
            route(request, connection)
            if connection.isClosed { return }
        }
        if !connection.isClosed {
            lock.withLock { closedByClient += 1 }
            connection.closeNow()
        }
    }
}

/// One accepted connection.
///
/// `@unchecked Sendable`: reads happen on the connection's thread; `closed` is behind `lock`.
final class Connection: @unchecked Sendable {
    private let descriptor: Int32
    private var buffer: [UInt8] = []
    private let lock = NSLock()
    private var closed = false

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    var isClosed: Bool { lock.withLock { closed } }

    func closeNow() {
        lock.withLock {
            guard !closed else { return }
            closed = true
            shutdown(descriptor, Int32(SHUT_RDWR))
            close(descriptor)
        }
    }

    /// The next request, or nil when the client closed the connection.
    fileprivate func readRequest() -> LoopbackHTTPServer.Request? {
        let terminator: [UInt8] = Array("\r\n\r\n".utf8)
        var headEnd: Int?
        while headEnd == nil {
            headEnd = buffer.firstRange(of: terminator)?.upperBound
            if headEnd == nil, !fill() { return nil }
        }
        let head = String(decoding: buffer[..<headEnd!], as: UTF8.self)
        buffer.removeFirst(headEnd!)
        let lines = head.components(separatedBy: "\r\n")
        let requestLine = lines[0].split(separator: " ")
        var headers: [String: String] = [:]
        for line in lines.dropFirst() where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        while buffer.count < length {
            if !fill() { return nil }
        }
        let body = Array(buffer[..<length])
        buffer.removeFirst(length)
        return LoopbackHTTPServer.Request(
            method: requestLine.first.map(String.init) ?? "",
            path: requestLine.count > 1 ? String(requestLine[1]) : "",
            headers: headers,
            body: body)
    }

    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return false }
        buffer.append(contentsOf: chunk[..<count])
        return true
    }

    /// Blocks until the client closes the connection (true) or `timeout` passes (false).
    func waitForClientClose(timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var descriptorSet = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptorSet, 1, 20)
            if ready > 0 {
                var byte: UInt8 = 0
                let count = recv(descriptor, &byte, 1, Int32(MSG_PEEK))
                if count <= 0 { return true }
                buffer.append(byte)  // unexpected data; keep it
                _ = recv(descriptor, &byte, 1, 0)
            }
        }
        return false
    }

    func write(_ text: String) {
        write(Array(text.utf8))
    }

    func write(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard sent > 0 else { return }
            offset += sent
        }
    }

    /// A whole response with a `Content-Length`.
    func respond(status: Int = 200, headers: [(String, String)] = [], body: String = "") {
        var head = "HTTP/1.1 \(status) \(status == 200 ? "OK" : "Status")\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(body.utf8.count)\r\n\r\n"
        write(head + body)
    }

    func beginChunked(status: Int = 200, contentType: String = "text/event-stream") {
        write("HTTP/1.1 \(status) OK\r\nContent-Type: \(contentType)\r\nTransfer-Encoding: chunked\r\n\r\n")
    }

    func writeChunk(_ text: String) {
        let bytes = Array(text.utf8)
        write(String(bytes.count, radix: 16) + "\r\n")
        write(bytes)
        write("\r\n")
    }

    func endChunked() {
        write("0\r\n\r\n")
    }
}
