/// A pull reader of JSON straight from UTF-8 bytes, for provider responses.
///
/// It exists because Foundation's `JSONDecoder` was ~10% of all pelletd CPU serving Complete
/// calls at 2,000/s (called from `OpenAIChat.decodeCompletion`, and once per SSE event from
/// `decodeChunk`): it builds a map of the whole document, boxes containers and allocates for
/// every key, when Pellet wants five values and skips the rest. This reader walks the bytes
/// once, materializes only the strings asked for (one allocation each, none for short ones) and
/// skips everything else in place.
///
/// It still checks the whole document, skipped parts included: RFC 8259 syntax, string escapes
/// (`\uXXXX` surrogate pairs must pair up), UTF-8, number syntax, nothing but whitespace after
/// the value. Like Foundation's parser it also accepts a leading UTF-8 byte order mark and one
/// trailing comma before `}` or `]`, and refuses containers nested deeper than
/// ``maximumDepth`` (the same limit), rather than overflowing the stack.
///
/// Use it through ``read(_:_:)``: the reader and the ``Key``s it hands out point into the bytes
/// and are valid only inside that closure. Reading a value of the wrong type throws, so callers
/// check `null` first with ``readNull()`` where a value is optional.
struct JSONReader {
    /// Containers nested deeper than this are refused. Foundation's limit too.
    static let maximumDepth = 512

    /// Why the bytes are not what the reader was asked for: never quotes the document, which
    /// may hold completion text.
    struct Failure: Error, CustomStringConvertible {
        let reason: String
        /// The offset of the byte where reading stopped.
        let offset: Int

        var description: String { "\(reason) at byte \(offset)" }
    }

    /// The type of the next value, as its first byte tells.
    enum ValueKind: CustomStringConvertible {
        case object, array, string, number, bool, null

        var description: String {
            switch self {
            case .object: "an object"
            case .array: "an array"
            case .string: "a string"
            case .number: "a number"
            case .bool: "a boolean"
            case .null: "null"
            }
        }
    }

    /// An object member's name, to be matched with `case "name":` in a `switch`.
    struct Key {
        /// The bytes between the quotes, escapes still in.
        fileprivate let raw: UnsafeBufferPointer<UInt8>
        /// The name with its escapes resolved, only when it has any (rare).
        fileprivate let unescaped: String?

        var name: String { unescaped ?? String(decoding: raw, as: UTF8.self) }

        static func ~= (pattern: StaticString, key: Key) -> Bool {
            pattern.withUTF8Buffer { pattern in
                if let unescaped = key.unescaped { return pattern.elementsEqual(unescaped.utf8) }
                return pattern.count == key.raw.count && pattern.elementsEqual(key.raw)
            }
        }
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    private var position = 0
    /// Containers open around the position.
    private var depth = 0
    /// Just after `{` or `[`: the next member or element needs no comma.
    private var atContainerStart = false

    private init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// Reads one JSON document: `body` reads its value, then only whitespace may follow.
    static func read<Result>(
        _ document: [UInt8],
        _ body: (inout JSONReader) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try document.withUnsafeBufferPointer { bytes throws(Failure) in
            var reader = JSONReader(bytes)
            if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
                reader.position = 3  // a UTF-8 byte order mark
            }
            let result = try body(&reader)
            assert(reader.depth == 0, "the body left a container open")
            reader.skipWhitespace()
            guard reader.position == bytes.count else {
                throw reader.failure("unexpected data after the document")
            }
            return result
        }
    }

    /// Whether `document` is one well-formed JSON value.
    static func isValid(_ document: [UInt8]) -> Bool {
        (try? read(document) { reader throws(Failure) in try reader.skipValue() }) != nil
    }

    // MARK: - Containers

    /// Enters an object; then call ``nextKey()`` until it returns nil, reading or skipping the
    /// value after each key.
    mutating func beginObject() throws(Failure) {
        try expectValue(.object)
        try enterContainer()
    }

    /// The next member's name (the reader is then at its value), or nil after the closing `}`.
    mutating func nextKey() throws(Failure) -> Key? {
        guard try hasNextMember(closedBy: UInt8(ascii: "}")) else { return nil }
        guard current == UInt8(ascii: "\"") else { throw failure("expected a string key") }
        let (contents, hasEscapes) = try scanString()
        let raw = UnsafeBufferPointer(rebasing: bytes[contents])
        let key = Key(raw: raw, unescaped: hasEscapes ? unescape(contents) : nil)
        skipWhitespace()
        guard current == UInt8(ascii: ":") else { throw failure("expected ':' after an object key") }
        position += 1
        return key
    }

    /// Enters an array; then call ``nextElement()`` until it returns false, reading or skipping
    /// an element each time it returns true.
    mutating func beginArray() throws(Failure) {
        try expectValue(.array)
        try enterContainer()
    }

    /// Whether another element follows (the reader is then at it); false after the closing `]`.
    mutating func nextElement() throws(Failure) -> Bool {
        try hasNextMember(closedBy: UInt8(ascii: "]"))
    }

    // MARK: - Values

    /// The type of the next value, without reading it.
    mutating func nextValueKind() throws(Failure) -> ValueKind {
        skipWhitespace()
        guard let byte = current else { throw failure("unexpected end of data") }
        switch byte {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        default: throw failure("expected a value")
        }
    }

    /// Reads a `null` if that is the next value; otherwise reads nothing and returns false.
    mutating func readNull() throws(Failure) -> Bool {
        guard try nextValueKind() == .null else { return false }
        try expectLiteral("null")
        return true
    }

    /// A string, or nil for `null`.
    mutating func readStringOrNull() throws(Failure) -> String? {
        try readNull() ? nil : readString()
    }

    /// An `Int` as ``readInt()`` takes it, or nil for `null`.
    mutating func readIntOrNull() throws(Failure) -> Int? {
        try readNull() ? nil : readInt()
    }

    mutating func readBool() throws(Failure) -> Bool {
        try expectValue(.bool)
        if current == UInt8(ascii: "t") {
            try expectLiteral("true")
            return true
        }
        try expectLiteral("false")
        return false
    }

    mutating func readString() throws(Failure) -> String {
        try expectValue(.string)
        let (contents, hasEscapes) = try scanString()
        if hasEscapes { return unescape(contents) }
        // Already checked to be UTF-8, so nothing is repaired.
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[contents]), as: UTF8.self)
    }

    /// A number that is a whole `Int`, as `JSONDecoder` takes them: digits alone must fit,
    /// and a fraction or exponent must come out exact (`1.0`, `1e2`; not `1.5`, not `1e400`).
    mutating func readInt() throws(Failure) -> Int {
        try expectValue(.number)
        let start = position
        let isInteger = try scanNumber()
        if isInteger, let value = integerValue(start..<position) { return value }
        if !isInteger, let value = Int(exactly: doubleValue(start..<position)) { return value }
        throw Failure(reason: "expected a whole number that fits in 64 bits", offset: start)
    }

    /// A number, rounded to the nearest `Double` (infinite past its range).
    mutating func readDouble() throws(Failure) -> Double {
        try expectValue(.number)
        let start = position
        _ = try scanNumber()
        return doubleValue(start..<position)
    }

    /// Skips the next value, whatever its type, checking it all the same.
    mutating func skipValue() throws(Failure) {
        switch try nextValueKind() {
        case .object:
            try beginObject()
            while try nextKey() != nil { try skipValue() }
        case .array:
            try beginArray()
            while try nextElement() { try skipValue() }
        case .string: _ = try scanString()
        case .number: _ = try scanNumber()
        case .bool: _ = try readBool()
        case .null: _ = try readNull()
        }
    }

    // MARK: - Structure

    /// The byte at the position, or nil at the end.
    private var current: UInt8? {
        position < bytes.count ? bytes[position] : nil
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): position += 1
            default: return
            }
        }
    }

    private func failure(_ reason: String) -> Failure {
        Failure(reason: position < bytes.count ? reason : "unexpected end of data", offset: position)
    }

    /// Leaves the position at the next value if it has type `kind`, else throws.
    private mutating func expectValue(_ kind: ValueKind) throws(Failure) {
        let found = try nextValueKind()
        guard found == kind else { throw failure("expected \(kind), found \(found)") }
    }

    private mutating func enterContainer() throws(Failure) {
        guard depth < Self.maximumDepth else {
            throw failure("containers nested deeper than \(Self.maximumDepth) levels")
        }
        depth += 1
        position += 1
        atContainerStart = true
    }

    /// Steps over the `,` before a member or element, or over the container's closing byte
    /// (returning false).
    private mutating func hasNextMember(closedBy closing: UInt8) throws(Failure) -> Bool {
        skipWhitespace()
        if atContainerStart {
            atContainerStart = false
        } else if current == UInt8(ascii: ",") {
            position += 1
            skipWhitespace()
            // A trailing comma, which Foundation accepts too.
            guard current != closing else { return try close() }
            return true
        } else if current != closing {
            throw failure(closing == UInt8(ascii: "}") ? "expected ',' or '}'" : "expected ',' or ']'")
        }
        return current == closing ? try close() : true
    }

    private mutating func close() throws(Failure) -> Bool {
        position += 1
        depth -= 1
        return false
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(Failure) {
        let matches = literal.withUTF8Buffer { literal in
            bytes.count - position >= literal.count
                && UnsafeBufferPointer(rebasing: bytes[position..<position + literal.count]).elementsEqual(literal)
        }
        guard matches else { throw failure("expected \(literal)") }
        position += literal.utf8CodeUnitCount
    }

    // MARK: - Numbers

    /// Steps over a number (`-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`); returns
    /// whether it has neither fraction nor exponent.
    private mutating func scanNumber() throws(Failure) -> Bool {
        if current == UInt8(ascii: "-") { position += 1 }
        if current == UInt8(ascii: "0") {
            position += 1
        } else {
            try scanDigits()
        }
        var isInteger = true
        if current == UInt8(ascii: ".") {
            position += 1
            try scanDigits()
            isInteger = false
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            try scanDigits()
            isInteger = false
        }
        return isInteger
    }

    /// One or more decimal digits.
    private mutating func scanDigits() throws(Failure) {
        let start = position
        while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { position += 1 }
        guard position > start else { throw failure("expected a digit") }
    }

    /// The value of `-?[0-9]+`, or nil when it does not fit in an `Int`.
    private func integerValue(_ range: Range<Int>) -> Int? {
        var index = range.lowerBound
        let isNegative = bytes[index] == UInt8(ascii: "-")
        if isNegative { index += 1 }
        var value = 0
        // Accumulated on the negative side, which holds `Int.min`.
        while index < range.upperBound {
            let digit = Int(bytes[index] &- UInt8(ascii: "0"))
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = times10.subtractingReportingOverflow(digit)
            guard !overflow1, !overflow2 else { return nil }
            value = next
            index += 1
        }
        if isNegative { return value }
        return value == .min ? nil : -value
    }

    private func doubleValue(_ range: Range<Int>) -> Double {
        // Checked number syntax, which `Double(_:)` reads all of. Mostly short enough for a
        // small string, which does not allocate.
        Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)) ?? .nan
    }

    // MARK: - Strings

    /// Steps over a string from its opening quote, checking escapes, control characters and
    /// UTF-8; returns the range of its contents and whether it has any escape.
    private mutating func scanString() throws(Failure) -> (contents: Range<Int>, hasEscapes: Bool) {
        position += 1
        let start = position
        var hasEscapes = false
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                position += 1
                return (start..<position - 1, hasEscapes)
            } else if byte == UInt8(ascii: "\\") {
                hasEscapes = true
                try scanEscape()
            } else if byte < 0x20 {
                throw failure("unescaped control character in a string")
            } else if byte < 0x80 {
                position += 1
            } else {
                try scanUTF8Sequence()
            }
        }
        throw failure("unterminated string")
    }

    /// Steps over one escape sequence from its backslash; a `\u` high surrogate must be followed
    /// by a `\u` low surrogate, and a low one must not come alone.
    private mutating func scanEscape() throws(Failure) {
        position += 1
        guard let escaped = current else { throw failure("unterminated string") }
        switch escaped {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            position += 1
        case UInt8(ascii: "u"):
            let unit = try scanHexEscape()
            if (0xDC00...0xDFFF).contains(unit) { throw failure("a lone UTF-16 low surrogate") }
            if (0xD800...0xDBFF).contains(unit) {
                guard current == UInt8(ascii: "\\") else {
                    throw failure("a UTF-16 high surrogate without its low half")
                }
                position += 1
                guard current == UInt8(ascii: "u"), (0xDC00...0xDFFF).contains(try scanHexEscape()) else {
                    throw failure("a UTF-16 high surrogate without its low half")
                }
            }
        default:
            throw failure("invalid escape")
        }
    }

    /// Steps over `uXXXX` (the position at the `u`) and returns the code unit.
    private mutating func scanHexEscape() throws(Failure) -> UInt16 {
        position += 1
        guard bytes.count - position >= 4 else { throw failure("unterminated \\u escape") }
        var unit: UInt16 = 0
        for _ in 0..<4 {
            guard let digit = Self.hexDigitValue(bytes[position]) else { throw failure("invalid \\u escape") }
            unit = unit << 4 | UInt16(digit)
            position += 1
        }
        return unit
    }

    private static func hexDigitValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Steps over one multi-byte UTF-8 sequence from its lead byte: well-formed per RFC 3629
    /// (no overlong forms, no surrogates, nothing past U+10FFFF).
    private mutating func scanUTF8Sequence() throws(Failure) {
        let lead = bytes[position]
        // The continuation bytes after the lead, and the allowed range of the first of them.
        let count: Int
        var second: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: count = 1
        case 0xE0:
            count = 2
            second = 0xA0...0xBF
        case 0xED:
            count = 2
            second = 0x80...0x9F
        case 0xE1...0xEF: count = 2
        case 0xF0:
            count = 3
            second = 0x90...0xBF
        case 0xF1...0xF3: count = 3
        case 0xF4:
            count = 3
            second = 0x80...0x8F
        default: throw failure("invalid UTF-8")
        }
        guard bytes.count - position > count else { throw failure("invalid UTF-8") }
        guard second.contains(bytes[position + 1]) else { throw failure("invalid UTF-8") }
        var offset = 2
        while offset <= count {
            guard (0x80...0xBF).contains(bytes[position + offset]) else { throw failure("invalid UTF-8") }
            offset += 1
        }
        position += 1 + count
    }

    /// The contents of a checked string with its escapes resolved. They never lengthen it (`\n`
    /// is 2 bytes for 1, `\uXXXX` 6 for at most 3, a surrogate pair 12 for 4), so the string is
    /// written in place at the raw length: one allocation, none up to 15 bytes.
    private func unescape(_ contents: Range<Int>) -> String {
        String(unsafeUninitializedCapacity: contents.count) { output in
            var written = 0
            var index = contents.lowerBound
            func put(_ byte: UInt8) {
                output[written] = byte
                written += 1
            }
            while index < contents.upperBound {
                let byte = bytes[index]
                guard byte == UInt8(ascii: "\\") else {
                    put(byte)
                    index += 1
                    continue
                }
                let escaped = bytes[index + 1]
                index += 2
                switch escaped {
                case UInt8(ascii: "b"): put(0x08)
                case UInt8(ascii: "f"): put(0x0C)
                case UInt8(ascii: "n"): put(0x0A)
                case UInt8(ascii: "r"): put(0x0D)
                case UInt8(ascii: "t"): put(0x09)
                case UInt8(ascii: "u"):
                    var scalar = UInt32(hexUnit(at: index))
                    index += 4
                    if (0xD800...0xDBFF).contains(scalar) {
                        let low = UInt32(hexUnit(at: index + 2))
                        index += 6
                        scalar = 0x10000 + (scalar - 0xD800) << 10 + (low - 0xDC00)
                    }
                    for unit in Unicode.Scalar(scalar)!.utf8 { put(unit) }
                default: put(escaped)  // `"`, `\`, `/`
                }
            }
            return written
        }
    }

    /// The 4 checked hex digits at `index`.
    private func hexUnit(at index: Int) -> UInt16 {
        var unit: UInt16 = 0
        for offset in 0..<4 { unit = unit << 4 | UInt16(Self.hexDigitValue(bytes[index + offset])!) }
        return unit
    }
}
