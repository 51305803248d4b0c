/// A JSON value that remembers where it starts in its source, so a catalogue error can name the
/// line and column of the value at fault, not only the place a syntax error was found.
///
/// Foundation's parsers report a syntax error's position (in a platform-dependent message) but
/// drop positions once parsing succeeds; the catalogue's semantic checks ("model X: price must be
/// positive") need them too, so the catalogue is read by this small RFC 8259 parser instead.
struct PositionedJSON {
    enum Value {
        case object([Member])
        case array([PositionedJSON])
        case string(String)
        /// The number's source text: integers are read exactly, not through a Double.
        case number(String)
        case bool(Bool)
        case null
    }

    struct Member {
        var key: String
        var keyOffset: Int
        var value: PositionedJSON
    }

    var value: Value
    /// Byte offset of the value's first byte in the source.
    var offset: Int

    var kindName: String {
        switch value {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        }
    }

    /// Parses a whole document; anything but whitespace after the top-level value is an error.
    static func parse(_ bytes: [UInt8]) throws(CatalogueError) -> PositionedJSON {
        var parser = Parser(bytes: bytes)
        return try parser.document()
    }
}

/// Turns byte offsets into 1-based line and column numbers (columns count characters, not bytes).
struct SourcePosition {
    let line: Int
    let column: Int

    init(offset: Int, in bytes: [UInt8]) {
        var line = 1
        var column = 1
        var index = 0
        let end = min(offset, bytes.count)
        while index < end {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                // A UTF-8 continuation byte belongs to the character already counted.
                column += 1
            }
            index += 1
        }
        self.line = line
        self.column = column
    }
}

private struct Parser {
    let bytes: [UInt8]
    var index = 0
    var depth = 0
    static let maximumDepth = 64

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    func fail(_ reason: String, at offset: Int? = nil) -> CatalogueError {
        let position = SourcePosition(offset: offset ?? index, in: bytes)
        return CatalogueError(line: position.line, column: position.column, reason: reason)
    }

    var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipWhitespace() {
        while let byte = current,
            byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
                || byte == UInt8(ascii: "\t")
        {
            index += 1
        }
    }

    mutating func document() throws(CatalogueError) -> PositionedJSON {
        skipWhitespace()
        guard current != nil else { throw fail("the file is empty; expected a JSON object") }
        let value = try parseValue()
        skipWhitespace()
        if current != nil { throw fail("unexpected \(describeCurrent()) after the end of the JSON document") }
        return value
    }

    func describeCurrent() -> String {
        guard let byte = current else { return "end of file" }
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x\(String(byte, radix: 16, uppercase: true))"
    }

    mutating func parseValue() throws(CatalogueError) -> PositionedJSON {
        let start = index
        guard let byte = current else { throw fail("unexpected end of file; expected a value") }
        switch byte {
        case UInt8(ascii: "{"): return PositionedJSON(value: try parseObject(), offset: start)
        case UInt8(ascii: "["): return PositionedJSON(value: try parseArray(), offset: start)
        case UInt8(ascii: "\""): return PositionedJSON(value: .string(try parseString()), offset: start)
        case UInt8(ascii: "t"):
            try expectWord("true")
            return PositionedJSON(value: .bool(true), offset: start)
        case UInt8(ascii: "f"):
            try expectWord("false")
            return PositionedJSON(value: .bool(false), offset: start)
        case UInt8(ascii: "n"):
            try expectWord("null")
            return PositionedJSON(value: .null, offset: start)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return PositionedJSON(value: .number(try parseNumber()), offset: start)
        default:
            throw fail("unexpected \(describeCurrent()); expected a value")
        }
    }

    mutating func expectWord(_ word: String) throws(CatalogueError) {
        let start = index
        for byte in word.utf8 {
            guard current == byte else { throw fail("invalid literal; expected '\(word)'", at: start) }
            index += 1
        }
    }

    mutating func enter() throws(CatalogueError) {
        depth += 1
        if depth > Self.maximumDepth { throw fail("nesting deeper than \(Self.maximumDepth) levels") }
    }

    mutating func parseObject() throws(CatalogueError) -> PositionedJSON.Value {
        try enter()
        defer { depth -= 1 }
        index += 1
        var members: [PositionedJSON.Member] = []
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else {
                throw fail("unexpected \(describeCurrent()); expected a key in double quotes")
            }
            let keyOffset = index
            let key = try parseString()
            if members.contains(where: { $0.key == key }) {
                throw fail("duplicate key \"\(key)\"", at: keyOffset)
            }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else {
                throw fail("unexpected \(describeCurrent()); expected ':' after key \"\(key)\"")
            }
            index += 1
            skipWhitespace()
            let value = try parseValue()
            members.append(PositionedJSON.Member(key: key, keyOffset: keyOffset, value: value))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","):
                index += 1
            case UInt8(ascii: "}"):
                index += 1
                return .object(members)
            default:
                throw fail("unexpected \(describeCurrent()); expected ',' or '}' in an object")
            }
        }
    }

    mutating func parseArray() throws(CatalogueError) -> PositionedJSON.Value {
        try enter()
        defer { depth -= 1 }
        index += 1
        var elements: [PositionedJSON] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","):
                index += 1
            case UInt8(ascii: "]"):
                index += 1
                return .array(elements)
            default:
                throw fail("unexpected \(describeCurrent()); expected ',' or ']' in an array")
            }
        }
    }

    mutating func parseString() throws(CatalogueError) -> String {
        let start = index
        index += 1
        var scalars = String.UnicodeScalarView()
        var runStart = index
        while true {
            guard let byte = current else { throw fail("unterminated string", at: start) }
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                if index > runStart {
                    guard let run = String(validating: bytes[runStart..<index], as: UTF8.self) else {
                        throw fail("invalid UTF-8 in a string", at: start)
                    }
                    scalars.append(contentsOf: run.unicodeScalars)
                }
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    return String(scalars)
                }
                scalars.append(try parseEscape())
                runStart = index
                continue
            }
            if byte < 0x20 {
                throw fail("control character in a string (write \\n, \\t or \\u00XX)")
            }
            index += 1
        }
    }

    mutating func parseEscape() throws(CatalogueError) -> Unicode.Scalar {
        let start = index
        index += 1
        guard let byte = current else { throw fail("unterminated string", at: start) }
        index += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let high = try parseHex4(escapeStart: start)
            if (0xD800..<0xDC00).contains(high) {
                guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u")
                else { throw fail("unpaired UTF-16 surrogate in \\u escape", at: start) }
                index += 2
                let low = try parseHex4(escapeStart: start)
                guard (0xDC00..<0xE000).contains(low) else {
                    throw fail("unpaired UTF-16 surrogate in \\u escape", at: start)
                }
                let combined = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                if let scalar = Unicode.Scalar(combined) { return scalar }
            } else if let scalar = Unicode.Scalar(high) {
                return scalar
            }
            throw fail("invalid \\u escape", at: start)
        default:
            throw fail("invalid escape '\\\(Character(Unicode.Scalar(byte)))' in a string", at: start)
        }
    }

    mutating func parseHex4(escapeStart: Int) throws(CatalogueError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = current else { throw fail("unterminated \\u escape", at: escapeStart) }
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw fail("invalid hex digit in \\u escape", at: escapeStart)
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    mutating func parseNumber() throws(CatalogueError) -> String {
        let start = index
        func isDigit(_ byte: UInt8?) -> Bool {
            guard let byte else { return false }
            return byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
        }
        if current == UInt8(ascii: "-") { index += 1 }
        guard isDigit(current) else { throw fail("invalid number: expected a digit", at: start) }
        if current == UInt8(ascii: "0") {
            index += 1
            if isDigit(current) { throw fail("invalid number: leading zero", at: start) }
        } else {
            while isDigit(current) { index += 1 }
        }
        if current == UInt8(ascii: ".") {
            index += 1
            guard isDigit(current) else { throw fail("invalid number: expected a digit after '.'", at: start) }
            while isDigit(current) { index += 1 }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard isDigit(current) else { throw fail("invalid number: expected a digit in the exponent", at: start) }
            while isDigit(current) { index += 1 }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }
}
