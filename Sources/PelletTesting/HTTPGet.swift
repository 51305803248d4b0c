import Foundation

/// A minimal blocking HTTP/1.1 GET over a fresh TCP connection, for tests of pelletd's metrics
/// listener: no client library, so a test sees exactly what the listener sends.
public struct HTTPGetResult: Sendable {
    public let status: Int
    public let body: String
}

public enum HTTPGet {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// `url`: "http://HOST:PORT"; `path`: "/metrics".
    public static func get(_ url: String, _ path: String) throws -> HTTPGetResult {
        guard let match = url.firstMatch(of: #/^http://([^:/]+):(\d+)$/#), let port = UInt16(match.2) else {
            throw Failure(description: "not an http://HOST:PORT address: \(url)")
        }
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, String(match.1), &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw Failure(description: "connect \(url): \(String(cString: strerror(errno)))") }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(match.1)\r\nConnection: close\r\n\r\n".utf8)
        guard write(descriptor, request, request.count) == request.count else {
            throw Failure(description: "write: \(String(cString: strerror(errno)))")
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(descriptor, &chunk, chunk.count)
            guard count > 0 else { break }
            response += chunk[0..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let statusMatch = text.firstMatch(of: #/^HTTP/1\.\d (\d{3})/#), let status = Int(statusMatch.1),
            let headerEnd = text.range(of: "\r\n\r\n")
        else {
            throw Failure(description: "not an HTTP response: \(text.prefix(200))")
        }
        return HTTPGetResult(status: status, body: String(text[headerEnd.upperBound...]))
    }
}

/// The samples of a Prometheus text exposition: `name{labels}` → value.
public struct PrometheusSamples: Sendable {
    public let values: [String: Double]

    public init(_ text: String) {
        var values: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            values[String(line[..<space])] = value
        }
        self.values = values
    }

    /// The value of `name{labels}` (labels as written: `method="Route",status="OK"`).
    public subscript(_ name: String, _ labels: String = "") -> Double? {
        values[labels.isEmpty ? name : "\(name){\(labels)}"]
    }

    /// The sum of every sample of `name` whose labels contain each of `matching`.
    public func sum(_ name: String, matching: [String] = []) -> Double {
        values.filter { key, _ in
            (key == name || key.hasPrefix(name + "{")) && matching.allSatisfy { key.contains($0) }
        }.values.reduce(0, +)
    }
}
