import Foundation

/// `pelletd --env-file FILE`: provider keys as `KEY=VALUE` lines, read at start-up and at each
/// reload, so that a key can be rotated without a restart (the process environment cannot
/// change once pelletd runs).
///
/// One assignment a line; blank lines and lines starting with `#` are skipped; `export ` before
/// the name is allowed (a file that a shell can also source); a value may be wrapped in double
/// or single quotes, which are removed. Anything else is refused with its line and column.
public enum EnvironmentFile {
    /// The file's assignments, the last one winning for a name given twice.
    public static func read(path: String) throws(ConfigurationFileError) -> [String: String] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationFileError(
                path: path, line: 0, column: 0, reason: "cannot read it: \(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationFileError(path: path, line: 0, column: 0, reason: "it is not UTF-8 text")
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws(ConfigurationFileError) -> [String: String] {
        var values: [String: String] = [:]
        // "\r\n" is one Character in Swift, so it is a separator of its own.
        let lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
        for (index, rawLine) in lines.enumerated() {
            let lineNumber = index + 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            let indent = line.prefix { $0 == " " || $0 == "\t" }.count
            var rest = line.dropFirst(indent)
            if rest.isEmpty || rest.hasPrefix("#") { continue }
            if rest.hasPrefix("export ") { rest = rest.dropFirst("export ".count).drop { $0 == " " } }
            let nameStart = line.count - rest.count + 1
            guard let equals = rest.firstIndex(of: "=") else {
                throw ConfigurationFileError(
                    path: path, line: lineNumber, column: nameStart, reason: "expected NAME=VALUE")
            }
            let name = String(rest[..<equals])
            guard isName(name) else {
                throw ConfigurationFileError(
                    path: path, line: lineNumber, column: nameStart,
                    reason: "\"\(name)\" is not a variable name (letters, digits and '_', not starting with a digit)")
            }
            var value = rest[rest.index(after: equals)...]
            let valueColumn = nameStart + name.count + 1
            if let quote = value.first, quote == "\"" || quote == "'" {
                guard value.count >= 2, value.last == quote else {
                    throw ConfigurationFileError(
                        path: path, line: lineNumber, column: valueColumn,
                        reason: "the value of \(name) opens a quote (\(quote)) that the line does not close")
                }
                value = value.dropFirst().dropLast()
            }
            values[name] = String(value)
        }
        return values
    }

    static func isName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return text.unicodeScalars.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) }
    }
}

/// A configuration file pelletd cannot use: the file, where (1-based; 0 when the problem is not
/// at a place in it) and why.
public struct ConfigurationFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var line: Int
    public var column: Int
    public var reason: String

    public init(path: String, line: Int, column: Int, reason: String) {
        self.path = path
        self.line = line
        self.column = column
        self.reason = reason
    }

    /// "catalogue.json:12:7: model \"x\": ..." (the compilers' form, which editors jump to).
    public var description: String {
        line > 0 ? "\(path):\(line):\(column): \(reason)" : "\(path): \(reason)"
    }
}
