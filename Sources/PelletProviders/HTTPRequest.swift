/// An HTTP request for the ``ProviderEngine``.
///
/// The engine copies everything it needs when the transfer starts; the value can be reused.
public struct HTTPRequest: Sendable {
    public enum Method: String, Sendable {
        case get = "GET"
        case post = "POST"
    }

    public var method: Method
    /// An absolute `http://` or `https://` URL.
    public var url: String
    public var headers: HTTPHeaders
    /// Sent as-is; ignored for GET.
    public var body: [UInt8]
    /// The whole transfer's limit (`CURLOPT_TIMEOUT_MS`): set it from the call's remaining
    /// deadline. Zero or less fails the transfer at once as timed out.
    public var timeout: Duration
    /// Fails the transfer when no response body byte arrives this long after the start. For a
    /// streamed completion the first body bytes are the first SSE event, which makes this the
    /// first-token timeout. `nil`: no limit beyond ``timeout``.
    public var firstByteTimeout: Duration?
    /// Fails the transfer when no body byte arrives for this long (a stream that stalls). Before
    /// the first body byte it counts from the start, unless ``firstByteTimeout`` is set, which
    /// then governs the wait for the first byte. `nil`: no limit beyond ``timeout``.
    public var idleTimeout: Duration?

    public init(
        method: Method = .post,
        url: String,
        headers: HTTPHeaders = [],
        body: [UInt8] = [],
        timeout: Duration,
        firstByteTimeout: Duration? = nil,
        idleTimeout: Duration? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.firstByteTimeout = firstByteTimeout
        self.idleTimeout = idleTimeout
    }
}

/// An ordered list of header fields; names compare case-insensitively.
///
/// A response's header block is kept as the bytes libcurl delivered (one `name:value\n` line
/// per field, names lower-cased, values trimmed) and a String is made only for a field that is
/// asked for: a transfer does not pay two Strings per header line it never reads.
public struct HTTPHeaders: Sendable, Hashable, ExpressibleByArrayLiteral, Sequence, CustomStringConvertible {
    public struct Field: Sendable, Hashable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// A received block, parsed lazily (see above); fields added one by one come after it.
    private var received: [UInt8]
    private var added: [Field]

    public init(_ fields: [(String, String)] = []) {
        received = []
        added = fields.map { Field(name: $0.0, value: $0.1) }
    }

    public init(arrayLiteral elements: (String, String)...) {
        self.init(elements)
    }

    /// `block` holds `name:value\n` lines, names lower-cased and values trimmed (``Transfer``).
    init(receivedBlock block: [UInt8]) {
        received = block
        added = []
    }

    public var fields: [Field] {
        var all: [Field] = []
        all.reserveCapacity(count)
        forEachReceivedLine { name, value in
            all.append(Field(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self)))
            return false
        }
        return all + added
    }

    public mutating func add(name: String, value: String) {
        added.append(Field(name: name, value: value))
    }

    /// The value of the first field called `name` (any case).
    public subscript(name: String) -> String? {
        var found: String?
        forEachReceivedLine { fieldName, value in
            guard fieldName.count == name.utf8.count,
                zip(fieldName, name.utf8).allSatisfy({ asciiLowercased($0) == asciiLowercased($1) })
            else { return false }
            found = String(decoding: value, as: UTF8.self)
            return true
        }
        return found ?? added.first { $0.name.caseInsensitiveEquals(name) }?.value
    }

    public var count: Int {
        received.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) } + added.count
    }

    public func makeIterator() -> IndexingIterator<[Field]> {
        fields.makeIterator()
    }

    public static func == (left: HTTPHeaders, right: HTTPHeaders) -> Bool {
        left.fields == right.fields
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(fields)
    }

    /// Names only: values may hold credentials (`Authorization`).
    public var description: String {
        "[" + fields.map(\.name).joined(separator: ", ") + "]"
    }

    /// Calls `body` with each field's name and value bytes, in order, building neither Strings
    /// nor arrays: how the provider thread reads a request's fields for every transfer.
    func forEachFieldUTF8(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        if !received.isEmpty {
            received.withUnsafeBytes { block in
                forEachReceivedLine { name, value in
                    body(
                        UnsafeRawBufferPointer(rebasing: block[name.startIndex..<name.endIndex]),
                        UnsafeRawBufferPointer(rebasing: block[value.startIndex..<value.endIndex]))
                    return false
                }
            }
        }
        for field in added {
            var name = field.name
            var value = field.value
            name.withUTF8 { name in
                value.withUTF8 { value in body(UnsafeRawBufferPointer(name), UnsafeRawBufferPointer(value)) }
            }
        }
    }

    /// Calls `body` with each received line's name and value bytes until it returns true.
    private func forEachReceivedLine(_ body: (ArraySlice<UInt8>, ArraySlice<UInt8>) -> Bool) {
        var start = received.startIndex
        while start < received.endIndex {
            let end = received[start...].firstIndex(of: UInt8(ascii: "\n")) ?? received.endIndex
            let line = received[start..<end]
            if let colon = line.firstIndex(of: UInt8(ascii: ":")),
                body(line[..<colon], line[(colon + 1)...])
            {
                return
            }
            start = end + 1
        }
    }
}

extension String {
    /// ASCII case-insensitive comparison, enough for header names and media types.
    func caseInsensitiveEquals(_ other: String) -> Bool {
        let left = utf8
        let right = other.utf8
        guard left.count == right.count else { return false }
        return zip(left, right).allSatisfy { asciiLowercased($0) == asciiLowercased($1) }
    }
}

@inline(__always)
func asciiLowercased(_ byte: UInt8) -> UInt8 {
    (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) ? byte | 0x20 : byte
}
