/// Splits the bytes of an HTTP/1.1 connection into responses, for the lean client: what a
/// benchmark needs of a response is its status, where it ends and whether the server closes the
/// connection after it. Header values other than the framing ones are not read, and a body is
/// skipped as it arrives (never held whole).
///
/// A head is taken only whole (it is re-read from its start when it arrived in part); a body
/// with `Content-Length` or in chunks is consumed piece by piece. A body that only the end of the
/// connection would end (neither of those) is refused: the lean client keeps its connections.
struct HTTPResponseDecoder {
    struct Response: Equatable {
        let status: Int
        /// `Connection: close`, or HTTP/1.0 without keep-alive: the connection ends after it.
        let closesConnection: Bool
    }

    struct Failure: Error, Equatable, CustomStringConvertible {
        let description: String
    }

    /// Longest head (status line and headers) taken: an HTTP server's default limits are 8–16 KiB.
    static let maxHeadBytes = 64 * 1024
    /// Longest chunk-size or trailer line.
    static let maxLineBytes = 16 * 1024

    private enum State {
        case head
        case body(remaining: Int, Response)
        case chunkSize(Response)
        /// The chunk's data and the line break after it.
        case chunkData(remaining: Int, Response)
        case trailers(Response)
    }

    private var state = State.head

    /// Consumes `bytes` up to the end of the next whole response, or all it can of them. Returns
    /// how many it used and the response if one ended; with no response, the bytes not used are
    /// a part of a head or line that needs more to be read.
    mutating func decode(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> (used: Int, response: Response?) {
        var used = 0
        while true {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[used...])
            switch state {
            case .head:
                guard let headLength = Self.find(Self.blankLine, in: rest) else {
                    if rest.count >= Self.maxHeadBytes {
                        throw Failure(description: "a response head over \(Self.maxHeadBytes) bytes")
                    }
                    return (used, nil)
                }
                let head = try Self.parseHead(UnsafeRawBufferPointer(rebasing: rest[..<headLength]))
                used += headLength + Self.blankLine.count
                switch head.framing {
                case .interim:
                    continue
                case .empty:
                    return (used, head.response)
                case .length(let length):
                    if length == 0 { return (used, head.response) }
                    state = .body(remaining: length, head.response)
                case .chunked:
                    state = .chunkSize(head.response)
                }
            case .body(let remaining, let response):
                let taken = min(remaining, rest.count)
                used += taken
                guard taken == remaining else {
                    state = .body(remaining: remaining - taken, response)
                    return (used, nil)
                }
                state = .head
                return (used, response)
            case .chunkSize(let response):
                guard let lineLength = try Self.line(in: rest) else { return (used, nil) }
                let size = try Self.chunkSize(UnsafeRawBufferPointer(rebasing: rest[..<lineLength]))
                used += lineLength + 2
                state = size == 0 ? .trailers(response) : .chunkData(remaining: size + 2, response)
            case .chunkData(let remaining, let response):
                let taken = min(remaining, rest.count)
                used += taken
                guard taken == remaining else {
                    state = .chunkData(remaining: remaining - taken, response)
                    return (used, nil)
                }
                state = .chunkSize(response)
            case .trailers(let response):
                guard let lineLength = try Self.line(in: rest) else { return (used, nil) }
                used += lineLength + 2
                if lineLength == 0 {
                    state = .head
                    return (used, response)
                }
            }
        }
    }

    // MARK: the head

    private enum Framing {
        /// 1xx: another head follows for the same request.
        case interim
        /// 204, 304: no body.
        case empty
        case length(Int)
        case chunked
    }

    private static let blankLine: [UInt8] = Array("\r\n\r\n".utf8)

    private static func parseHead(
        _ head: UnsafeRawBufferPointer
    ) throws(Failure) -> (response: Response, framing: Framing) {
        // "HTTP/1.1 200 OK": the version, a space, three digits.
        guard head.count >= 12, head.starts(with: "HTTP/1.".utf8), head[8] == UInt8(ascii: " "),
            let status = Self.digits(UnsafeRawBufferPointer(rebasing: head[9..<12])),
            head.count == 12 || head[12] == UInt8(ascii: " ") || head[12] == UInt8(ascii: "\r")
        else {
            throw Failure(description: "a response that does not start with an HTTP/1.x status line")
        }
        let isHTTP10 = head[7] == UInt8(ascii: "0")
        var contentLength: Int?
        var isChunked = false
        var closes = isHTTP10
        var lineStart = (find([13, 10], in: head) ?? head.count) + 2
        while lineStart < head.count {
            let line = UnsafeRawBufferPointer(rebasing: head[lineStart...])
            let lineLength = find([13, 10], in: line) ?? line.count
            lineStart += lineLength + 2
            guard let colon = line[..<lineLength].firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = UnsafeRawBufferPointer(rebasing: line[..<colon])
            let value = trimmed(UnsafeRawBufferPointer(rebasing: line[(colon + 1)..<lineLength]))
            if equalsIgnoringCase(name, "content-length") {
                guard let length = digits(value), contentLength == nil || contentLength == length else {
                    throw Failure(description: "a response with a Content-Length that is not one number")
                }
                contentLength = length
            } else if equalsIgnoringCase(name, "transfer-encoding") {
                isChunked = contains(value, "chunked")
            } else if equalsIgnoringCase(name, "connection") {
                if contains(value, "close") { closes = true }
                if isHTTP10 && contains(value, "keep-alive") { closes = false }
            }
        }
        let response = Response(status: status, closesConnection: closes)
        switch status {
        case 101:
            throw Failure(description: "a response that switches protocols")
        case 100..<200:
            return (response, .interim)
        case 204, 304:
            return (response, .empty)
        default:
            if isChunked { return (response, .chunked) }
            guard let contentLength else {
                throw Failure(
                    description: "a response whose body ends with the connection (neither Content-Length nor chunked)"
                )
            }
            return (response, .length(contentLength))
        }
    }

    /// A chunk-size line: hex digits, then perhaps `;` and extensions.
    private static func chunkSize(_ line: UnsafeRawBufferPointer) throws(Failure) -> Int {
        var size = 0
        var count = 0
        for byte in line {
            let digit: Int
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = Int(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = Int(byte - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = Int(byte - UInt8(ascii: "A")) + 10
            case UInt8(ascii: ";"), UInt8(ascii: " "), UInt8(ascii: "\t"):
                guard count > 0 else { throw Failure(description: "a chunk without a size") }
                return size
            default:
                throw Failure(description: "a chunk size that is not hexadecimal")
            }
            count += 1
            // 15 hex digits: 2^60, far past any body, and no overflow.
            guard count <= 15 else { throw Failure(description: "a chunk size over 2^60 bytes") }
            size = size << 4 | digit
        }
        guard count > 0 else { throw Failure(description: "a chunk without a size") }
        return size
    }

    // MARK: bytes

    /// The length of the line at the start of `bytes` (without its CRLF), nil until it is whole.
    private static func line(in bytes: UnsafeRawBufferPointer) throws(Failure) -> Int? {
        if let length = find([13, 10], in: bytes) { return length }
        if bytes.count >= maxLineBytes { throw Failure(description: "a chunk line over \(maxLineBytes) bytes") }
        return nil
    }

    private static func find(_ needle: [UInt8], in bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        var index = 0
        let last = bytes.count - needle.count
        while index <= last {
            if bytes[index] == needle[0] {
                var matched = 1
                while matched < needle.count && bytes[index + matched] == needle[matched] { matched += 1 }
                if matched == needle.count { return index }
            }
            index += 1
        }
        return nil
    }

    /// A non-negative decimal of at most 18 digits (no overflow), nil for anything else.
    private static func digits(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private static func trimmed(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var lower = 0
        var upper = bytes.count
        while lower < upper && (bytes[lower] == 32 || bytes[lower] == 9) { lower += 1 }
        while upper > lower && (bytes[upper - 1] == 32 || bytes[upper - 1] == 9) { upper -= 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[lower..<upper])
    }

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
    }

    /// `lowercase` is ASCII lower case.
    private static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = UnsafeRawBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)
        return zip(bytes, expected).allSatisfy { lowercased($0) == $1 }
    }

    /// Whether the comma-separated list `bytes` has the token `lowercase`, in any case.
    private static func contains(_ bytes: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
        var start = 0
        while start <= bytes.count {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: ",")) ?? bytes.count
            if equalsIgnoringCase(trimmed(UnsafeRawBufferPointer(rebasing: bytes[start..<end])), lowercase) {
                return true
            }
            start = end + 1
        }
        return false
    }
}
