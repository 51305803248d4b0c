import PelletClient
import PelletWire

/// Where the load goes: a Pellet server over its RPC, or an OpenAI-compatible provider over
/// HTTP/1.1 (the baseline a gateway's overhead is measured against).
public enum LoadTarget: Sendable, Hashable, CustomStringConvertible {
    case pellet(PelletAddress)
    /// `path` is where chat completions are POSTed, e.g. "/v1/chat/completions".
    case http(host: String, port: Int, path: String)

    /// Parses `unix:PATH`, `tcp://HOST:PORT` or `http://HOST:PORT[/BASE]`. A base path such as
    /// `/v1` (what `MockServer.baseURL` ends with) gets `/chat/completions` appended; none means
    /// `/v1/chat/completions`.
    public init(parsing text: String) throws(LoadError) {
        guard text.hasPrefix("http://") else {
            do {
                self = .pellet(try PelletAddress(parsing: text))
            } catch {
                throw LoadError(
                    "--target \(error.message); or http://HOST:PORT for an OpenAI-compatible provider"
                )
            }
            return
        }
        let rest = text.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        var basePath = String(rest.dropFirst(authority.count))
        while basePath.hasSuffix("/") { basePath.removeLast() }
        // Reuse PelletAddress's host and port rules (IPv6 in brackets, port 1...65535).
        guard case .tcp(let host, let port) = try? PelletAddress(parsing: "tcp://\(authority)") else {
            throw LoadError(
                "--target \"\(text)\" is not a valid http://HOST:PORT address (the port is required, "
                    + "an IPv6 host goes in brackets)"
            )
        }
        self = .http(host: host, port: port, path: (basePath.isEmpty ? "/v1" : basePath) + "/chat/completions")
    }

    public var description: String {
        switch self {
        case .pellet(let address):
            address.description
        case .http(let host, let port, let path):
            host.contains(":") ? "http://[\(host)]:\(port)\(path)" : "http://\(host):\(port)\(path)"
        }
    }

    public var isHTTP: Bool {
        if case .http = self { return true }
        return false
    }
}
