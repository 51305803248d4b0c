import Foundation
import NIOCore
import PelletClient
import PelletWire

/// A byte-level client for protocol tests: it sends exactly the bytes a test gives it (bad
/// prefaces, truncated or oversize frames) and reads back what the server answers, over a
/// plain blocking socket with a receive timeout.
public final class RawConnection {
    public enum Failure: Error, CustomStringConvertible {
        case connect(String)
        case timedOut
        case closed
        case io(String)

        public var description: String {
            switch self {
            case .connect(let reason): "connect failed: \(reason)"
            case .timedOut: "timed out waiting for the server"
            case .closed: "the server closed the connection"
            case .io(let reason): reason
            }
        }
    }

    private let fd: Int32
    private var received: [UInt8] = []

    /// Connects to `unix:PATH` or `tcp://HOST:PORT` (an IPv4 host).
    public init(_ address: PelletAddress, receiveTimeout: Duration = .seconds(5)) throws {
        switch address {
        case .unix(let path):
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                raw.copyBytes(from: path.utf8)
                raw[path.utf8.count] = 0
            }
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if rc != 0 { let reason = String(cString: strerror(errno)); close(fd); throw Failure.connect(reason) }
        // On a tls:// address the bytes go in plaintext: for tests of what a TLS port does with them.
        case .tcp(let host, let port), .tls(let host, let port):
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, host, &addr.sin_addr)
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if rc != 0 { let reason = String(cString: strerror(errno)); close(fd); throw Failure.connect(reason) }
        }
        let (seconds, attoseconds) = receiveTimeout.components
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    public func send(_ bytes: [UInt8]) throws {
        _ = try send(bytes, stopWhenBlocked: false)
    }

    /// Sends as much as the peer takes; with `stopWhenBlocked`, returns how many bytes went out
    /// once a send blocks for the whole timeout (the peer stopped reading) instead of throwing.
    public func send(_ bytes: [UInt8], stopWhenBlocked: Bool) throws -> Int {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    if stopWhenBlocked { return offset }
                    throw Failure.timedOut
                }
                throw Failure.io("send failed: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
        return offset
    }

    public func sendPreface() throws { try send(Preface.bytes) }

    /// Sends one frame; `length` nil means the payload's real length.
    public func sendFrame(_ header: FrameHeader, payload: [UInt8] = [], length: UInt32? = nil) throws {
        var header = header
        header.length = length ?? UInt32(payload.count)
        var buffer = ByteBuffer()
        buffer.writeFrameHeader(header)
        buffer.writeBytes(payload)
        try send(Array(buffer.readableBytesView))
    }

    public func sendRequest(_ method: UInt16, stream: UInt32, message: some WireMessage, flags: UInt8 = 0, timeoutMs: UInt32 = 0) throws {
        try sendFrame(FrameHeader(type: .request, flags: flags, method: method, stream: stream, value: timeoutMs), payload: message.encodedBytes())
    }

    /// Reads exactly `count` bytes.
    public func read(_ count: Int) throws -> [UInt8] {
        while received.count < count {
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { throw Failure.closed }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK { throw Failure.timedOut }
                if errno == ECONNRESET { throw Failure.closed }
                throw Failure.io("recv failed: \(String(cString: strerror(errno)))")
            }
            received += chunk[0..<n]
        }
        defer { received.removeFirst(count) }
        return Array(received[0..<count])
    }

    public func readPreface() throws -> [UInt8] { try read(Preface.bytes.count) }

    public func readFrame() throws -> Frame {
        var header = ByteBuffer(bytes: try read(FrameHeader.size))
        let length = header.readInteger(endianness: .big, as: UInt32.self)!
        let rawType = header.readInteger(as: UInt8.self)!
        guard let type = FrameType(rawValue: rawType) else { throw Failure.io("server sent unknown frame type \(rawType)") }
        let flags = header.readInteger(as: UInt8.self)!
        let method = header.readInteger(endianness: .big, as: UInt16.self)!
        let stream = header.readInteger(endianness: .big, as: UInt32.self)!
        let value = header.readInteger(endianness: .big, as: UInt32.self)!
        let payload = ByteBuffer(bytes: try read(Int(length)))
        return Frame(header: FrameHeader(length: length, type: type, flags: flags, method: method, stream: stream, value: value), payload: payload)
    }

    /// True when the server has closed the connection (reads EOF within the timeout).
    public func isClosedByServer() -> Bool {
        do {
            while true { _ = try read(received.count + 1) }
        } catch Failure.closed {
            return true
        } catch {
            return false
        }
    }
}
