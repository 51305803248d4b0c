import Foundation
import PelletClient
import PelletWire

/// One connection of the lean client (`--client lean`): a plain non-blocking socket driven by a
/// thread of its own, so that what a run measures is the server, not the client's runtime.
///
/// The NIO client (`PelletClient`) costs a task hop and an event-loop hop per call; on two shared
/// cores that is more CPU per call than pelletd spends on a Route, so it set the rate it reported.
/// Here each request's frame is encoded once before the run (a call copies it and writes its
/// stream id), the frames due together leave in one `write`, and each `read` takes every answer
/// that has arrived; an answer's header is all that is read of it.
final class LeanConnection: @unchecked Sendable {
    /// Used by its own thread only, once the run starts.
    let descriptor: Int32

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// Connects, sends the preface and reads the server's.
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
            if result != 0 { throw failure(connecting: address, descriptor: descriptor) }
        case .tcp(let host, let port):
            descriptor = try connectTCP(host: host, port: port, address: address)
        case .tls:
            throw LoadError("--client lean speaks plaintext only: use the nio client for a tls:// target")
        }
        let connection = LeanConnection(descriptor: descriptor)
        try connection.handshake(address)
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        return connection
    }

    private static func connectTCP(host: String, port: Int, address: PelletAddress) throws(LoadError) -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let first = found else {
            throw LoadError("could not connect to \(address): cannot resolve \(host)")
        }
        defer { freeaddrinfo(found) }
        let descriptor = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard Glibc.connect(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            throw failure(connecting: address, descriptor: descriptor)
        }
        var on: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        return descriptor
    }

    private static func failure(connecting address: PelletAddress, descriptor: Int32) -> LoadError {
        let reason = String(cString: strerror(errno))
        close(descriptor)
        return LoadError("could not connect to \(address): \(reason)")
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

    /// Sends all of `bytes`. While the socket is full it waits, reading answers meanwhile into
    /// `input` (the server stops reading a client that does not read), and hands them to
    /// `answered`. False when the connection failed.
    func sendAll(_ bytes: [UInt8], input: inout FrameInput, answered: (FrameInput.Answer) -> Void) -> Bool {
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
                guard input.read(from: descriptor, answered: answered) else { return false }
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

/// The bytes read from a lean connection, split into answers by their frame headers.
struct FrameInput {
    /// One answered call: its stream and status.
    struct Answer {
        let stream: UInt32
        let outcome: LoadOutcome
    }

    private var bytes = [UInt8](repeating: 0, count: 1 << 20)
    private var start = 0
    private var end = 0

    /// One `read` of whatever has arrived, each complete RESPONSE or END handed to `answered`.
    /// A GOAWAY, a closed connection or a read error: false (the calls still out get no answer).
    mutating func read(from descriptor: Int32, answered: (Answer) -> Void) -> Bool {
        var start = self.start
        var end = self.end
        defer { (self.start, self.end) = (start, end) }
        if end == bytes.count {
            // The front holds only answers already handed on: move the partial one down.
            bytes.withUnsafeMutableBytes { raw in
                raw.baseAddress!.copyMemory(from: raw.baseAddress! + start, byteCount: end - start)
            }
            end -= start
            start = 0
            if end == bytes.count { bytes += [UInt8](repeating: 0, count: bytes.count) }
        }
        let count = bytes.withUnsafeMutableBytes { raw in
            recv(descriptor, raw.baseAddress! + end, raw.count - end, 0)
        }
        if count < 0 { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR }
        guard count > 0 else { return false }
        end += count
        let open = bytes.withUnsafeBytes { raw in
            while end - start >= FrameHeader.size {
                let header = raw.baseAddress! + start
                let length = Int(Self.bigEndian(header, 0))
                guard end - start >= FrameHeader.size + length else { break }
                start += FrameHeader.size + length
                switch FrameType(rawValue: header.load(fromByteOffset: 4, as: UInt8.self)) {
                case .response, .end:
                    let status = Status(wireValue: Self.bigEndian(header, 12))
                    answered(Answer(stream: Self.bigEndian(header, 8), outcome: .status(status)))
                case .goAway:
                    return false
                default:
                    // MESSAGE frames of a streamed call, a PONG: no call ends with them.
                    break
                }
            }
            return true
        }
        if start == end {
            start = 0
            end = 0
        }
        return open
    }

    private static func bigEndian(_ pointer: UnsafeRawPointer, _ offset: Int) -> UInt32 {
        UInt32(bigEndian: pointer.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
}
