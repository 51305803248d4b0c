import Foundation
import PelletClient
import PelletWire

/// One connection of the lean client (`--client lean`): a plain non-blocking socket driven by a
/// thread of its own, so that what a run measures is the server, not the client's runtime.
///
/// The NIO clients (`PelletClient`, `HTTPDriver`) cost a task hop and an event-loop hop per call;
/// on two shared cores that is more CPU per call than pelletd spends on a Route, so it set the
/// rate it reported, and it took capacity from the server it measured. Here each request is
/// encoded once before the run, the requests due together leave in one `write`, and each `read`
/// takes every answer that has arrived (see `LeanLoop`; the protocol is a `LeanWire`: Pellet's
/// RPC to pelletd, or HTTP/1.1 to a provider).
final class LeanConnection: @unchecked Sendable {
    /// Used by its own thread only, once the run starts.
    let descriptor: Int32

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// Connects to pelletd, sends the preface and reads the server's.
    static func connect(to address: PelletAddress) throws(LoadError) -> LeanConnection {
        let descriptor: Int32
        switch address {
        case .unix(let path):
            descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var socketAddress = sockaddr_un()
            socketAddress.sun_family = sa_family_t(AF_UNIX)
            guard path.utf8.count < MemoryLayout.size(ofValue: socketAddress.sun_path) else {
                close(descriptor)
                throw LoadError("could not connect to \(address): the socket path is too long")
            }
            withUnsafeMutableBytes(of: &socketAddress.sun_path) { raw in
                raw.copyBytes(from: path.utf8)
                raw[path.utf8.count] = 0
            }
            let result = withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            if result != 0 { throw failure(connecting: address.description, descriptor: descriptor) }
        case .tcp(let host, let port):
            descriptor = try connectTCP(host: host, port: port, target: address.description)
        case .tls:
            throw LoadError("--client lean speaks plaintext only: use the nio client for a tls:// target")
        }
        let connection = LeanConnection(descriptor: descriptor)
        try connection.handshake(address)
        connection.makeNonBlocking()
        return connection
    }

    /// Connects to an HTTP/1.1 server (`target` names it in errors); HTTP has no preface.
    static func connectHTTP(host: String, port: Int, target: String) throws(LoadError) -> LeanConnection {
        let connection = LeanConnection(descriptor: try connectTCP(host: host, port: port, target: target))
        connection.makeNonBlocking()
        return connection
    }

    private func makeNonBlocking() {
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
    }

    private static func connectTCP(host: String, port: Int, target: String) throws(LoadError) -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let first = found else {
            throw LoadError("could not connect to \(target): cannot resolve \(host)")
        }
        defer { freeaddrinfo(found) }
        let descriptor = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard Glibc.connect(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            throw failure(connecting: target, descriptor: descriptor)
        }
        var on: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        return descriptor
    }

    private static func failure(connecting target: String, descriptor: Int32) -> LoadError {
        let reason = String(cString: strerror(errno))
        close(descriptor)
        return LoadError("could not connect to \(target): \(reason)")
    }

    /// The preface both ways, blocking (the socket is made non-blocking after it).
    private func handshake(_ address: PelletAddress) throws(LoadError) {
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard (Preface.bytes.withUnsafeBytes { send($0.baseAddress, $0.count) }) == Preface.bytes.count else {
            throw LoadError("could not connect to \(address): sending the preface failed")
        }
        var answer = [UInt8](repeating: 0, count: Preface.bytes.count)
        var received = 0
        while received < answer.count {
            let count = answer.withUnsafeMutableBytes {
                recv(descriptor, $0.baseAddress! + received, $0.count - received, 0)
            }
            guard count > 0 else { throw LoadError("could not connect to \(address): no preface from the server") }
            received += count
        }
        guard answer == Preface.bytes else {
            throw LoadError("could not connect to \(address): the server's preface is \(answer), not Pellet's")
        }
    }

    private func send(_ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
        Glibc.send(descriptor, bytes, count, Int32(MSG_NOSIGNAL))
    }

    /// Sends all of `bytes`. While the socket is full it waits, calling `readAnswers` when answers
    /// arrive meanwhile (the server stops reading a client that does not read; false from it: the
    /// connection failed). False when the connection failed.
    func sendAll(_ bytes: [UInt8], readingMeanwhile readAnswers: () -> Bool) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { send($0.baseAddress! + offset, $0.count - offset) }
            if sent > 0 {
                offset += sent
                continue
            }
            guard sent < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else { return false }
            var watch = pollfd(fd: descriptor, events: Int16(POLLIN | POLLOUT), revents: 0)
            _ = poll(&watch, 1, 100)
            if watch.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                guard readAnswers() else { return false }
            }
        }
        return true
    }

    /// Waits until the socket has bytes or `nanoseconds` pass; true when it has bytes (or failed,
    /// which the next read reports). `select`, for its microsecond timeout: the open loop's send
    /// times are finer than `poll`'s milliseconds.
    func waitReadable(nanoseconds: UInt64) -> Bool {
        guard descriptor < FD_SETSIZE else {
            var watch = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            return poll(&watch, 1, Int32(min((nanoseconds + 999_999) / 1_000_000, 1_000))) > 0
        }
        var readable = fd_set()
        withUnsafeMutableBytes(of: &readable) { bits in
            bits[Int(descriptor) / 8] |= UInt8(1) << UInt8(descriptor % 8)
        }
        var timeout = timeval(
            tv_sec: Int(nanoseconds / 1_000_000_000), tv_usec: Int(nanoseconds % 1_000_000_000 / 1_000))
        return select(descriptor + 1, &readable, nil, nil, &timeout) > 0
    }
}
