import Foundation

/// Where the server listens.
public enum BindAddress: Sendable, Hashable, CustomStringConvertible {
    case unixDomainSocket(path: String)
    /// Port 0 picks a free port (tests read the bound one back from the server).
    case hostname(String, port: Int)

    public var description: String {
        switch self {
        case .unixDomainSocket(let path): "unix:\(path)"
        case .hostname(let host, let port): "tcp://\(host):\(port)"
        }
    }
}

/// Prepares a Unix socket path for binding: a stale socket file left by a dead server is
/// removed, but a path a live server still answers on is refused.
enum UnixSocketPath {
    enum Problem: Error, CustomStringConvertible {
        case inUse(String)
        case notASocket(String)
        case cannotRemove(String, String)

        var description: String {
            switch self {
            case .inUse(let path):
                "another server is already listening on \(path); stop it or choose another --unix path"
            case .notASocket(let path):
                "\(path) exists and is not a socket; remove it or choose another --unix path"
            case .cannotRemove(let path, let reason):
                "cannot remove the stale socket \(path): \(reason)"
            }
        }
    }

    static func prepare(_ path: String) throws(Problem) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }  // nothing there
        guard info.st_mode & S_IFMT == S_IFSOCK else { throw .notASocket(path) }
        if isLive(path) { throw .inUse(path) }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw .cannotRemove(path, String(cString: strerror(errno)))
        }
    }

    /// Whether something accepts connections on the socket (a dead server's file refuses them).
    private static func isLive(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0
    }
}
