import PelletWire

/// Where a Pellet server listens: a Unix domain socket or a TCP host and port.
///
/// The text forms are `unix:PATH` (relative paths are resolved against the working directory)
/// `tcp://HOST:PORT` and `tls://HOST:PORT`, with an IPv6 host in brackets: `tcp://[::1]:7700`.
public enum PelletAddress: Sendable, Hashable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: Int)
    /// TCP with TLS; the client's `ClientTLSOptions` say whom it trusts and who it is.
    case tls(host: String, port: Int)

    /// Parses `unix:PATH`, `tcp://HOST:PORT` or `tls://HOST:PORT`; throws INVALID_ARGUMENT with a
    /// message naming the accepted forms otherwise.
    public init(parsing text: String) throws(RPCError) {
        if text.hasPrefix("unix:") {
            var path = String(text.dropFirst("unix:".count))
            // `unix:///run/pellet.sock` is the URL spelling of `unix:/run/pellet.sock`.
            if path.hasPrefix("///") { path.removeFirst(2) }
            guard !path.isEmpty else {
                throw Self.invalid(text, "the socket path after \"unix:\" is empty")
            }
            self = .unix(path: path)
            return
        }
        if text.hasPrefix("tcp://") {
            let (host, port) = try Self.parseHostAndPort(String(text.dropFirst("tcp://".count)), original: text)
            self = .tcp(host: host, port: port)
            return
        }
        if text.hasPrefix("tls://") {
            let (host, port) = try Self.parseHostAndPort(String(text.dropFirst("tls://".count)), original: text)
            self = .tls(host: host, port: port)
            return
        }
        throw Self.invalid(text, "it does not start with \"unix:\", \"tcp://\" or \"tls://\"")
    }

    public var description: String {
        switch self {
        case .unix(let path):
            "unix:\(path)"
        case .tcp(let host, let port):
            host.contains(":") ? "tcp://[\(host)]:\(port)" : "tcp://\(host):\(port)"
        case .tls(let host, let port):
            host.contains(":") ? "tls://[\(host)]:\(port)" : "tls://\(host):\(port)"
        }
    }

    private static func parseHostAndPort(_ authority: String, original: String) throws(RPCError) -> (String, Int) {
        let host: Substring
        let portText: Substring
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw invalid(original, "the IPv6 host has no closing \"]\"")
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let rest = authority[authority.index(after: close)...]
            guard rest.hasPrefix(":") else { throw invalid(original, "the port is missing after the host") }
            portText = rest.dropFirst()
        } else {
            guard let colon = authority.lastIndex(of: ":") else {
                throw invalid(original, "the port is missing after the host")
            }
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
            guard !host.contains(":") else {
                throw invalid(original, "an IPv6 host must be written in brackets, as in tcp://[::1]:7700")
            }
        }
        guard !host.isEmpty else { throw invalid(original, "the host is empty") }
        guard !host.contains("/") else { throw invalid(original, "the host may not contain \"/\"") }
        guard let port = Int(portText), (1...65_535).contains(port) else {
            throw invalid(original, "the port \"\(portText)\" is not a number from 1 to 65535")
        }
        return (String(host), port)
    }

    private static func invalid(_ text: String, _ reason: String) -> RPCError {
        RPCError(
            .invalidArgument,
            "\"\(text)\" is not a Pellet server address: \(reason); "
                + "write unix:PATH (for example unix:./pellet-data/pellet.sock), tcp://HOST:PORT or tls://HOST:PORT"
        )
    }
}
