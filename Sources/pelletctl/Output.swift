import Foundation

/// Text and JSON formatting shared by the subcommands.
enum Output {
    static func printError(_ text: String) {
        FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
    }

    /// One line of compact JSON with sorted keys.
    /// Streamed text, written as it arrives. A reader that went away (`pelletctl complete
    /// --stream ... | head`) ends the program quietly, as a pipeline expects, instead of the crash
    /// of a failed `FileHandle.write`.
    static func writeStreamed(_ text: String) {
        do {
            try FileHandle.standardOutput.write(contentsOf: Data(text.utf8))
        } catch {
            exit(0)
        }
    }

    static func printJSON(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// "42.1": one decimal, rounded half away from zero, no locale.
    static func oneDecimal(_ value: Double) -> String {
        guard value.isFinite, abs(value) < 1e15 else { return "\(value)" }
        let tenths = Int64((value * 10).rounded())
        let sign = tenths < 0 ? "-" : ""
        return "\(sign)\(abs(tenths) / 10).\(abs(tenths) % 10)"
    }

    /// "0.42": two decimals, rounded half away from zero, no locale.
    static func twoDecimals(_ value: Double) -> String {
        guard value.isFinite, abs(value) < 1e15 else { return "\(value)" }
        let hundredths = Int64((value * 100).rounded())
        let sign = hundredths < 0 ? "-" : ""
        let fraction = abs(hundredths) % 100
        return "\(sign)\(abs(hundredths) / 100)." + (fraction < 10 ? "0" : "") + "\(fraction)"
    }

    /// `value` rounded to one decimal, for JSON numbers.
    static func roundedToTenth(_ value: Double) -> Double {
        (value * 10).rounded() / 10
    }

    static func microseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1e6 + Double(attoseconds) / 1e12
    }

    /// "3s", "2m 03s", "1h 02m 03s", "4d 01h 02m 03s".
    static func uptime(milliseconds: UInt64) -> String {
        let total = milliseconds / 1_000
        let (days, hours, minutes, seconds) = (total / 86_400, total / 3_600 % 24, total / 60 % 60, total % 60)
        func twoDigits(_ value: UInt64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        if days > 0 { return "\(days)d \(twoDigits(hours))h \(twoDigits(minutes))m \(twoDigits(seconds))s" }
        if hours > 0 { return "\(hours)h \(twoDigits(minutes))m \(twoDigits(seconds))s" }
        if minutes > 0 { return "\(minutes)m \(twoDigits(seconds))s" }
        return "\(seconds)s"
    }

    static func padded(_ text: String, to width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}

/// Money, times, tables and JSON for the account and key commands.
extension Output {
    /// "$12.50", "$0.00", "$0.000125": micro-USD in dollars, exactly (no floating point), with at
    /// least two decimals and no trailing zeros beyond them.
    static func dollars(microUSD: UInt64) -> String {
        let digits = String(microUSD % 1_000_000)
        var fraction = String(repeating: "0", count: 6 - digits.count) + digits
        while fraction.count > 2, fraction.hasSuffix("0") { fraction.removeLast() }
        return "$\(microUSD / 1_000_000).\(fraction)"
    }

    /// "2025-03-14T15:09:26Z": UTC, to the second, independent of locale and time zone.
    static func isoTimestamp(unixMs: UInt64) -> String {
        let seconds = unixMs / 1_000
        let (hour, minute, second) = (seconds / 3_600 % 24, seconds / 60 % 60, seconds % 60)
        return isoDate(unixMs: unixMs) + "T\(twoDigits(hour)):\(twoDigits(minute)):\(twoDigits(second))Z"
    }

    /// "2025-03-14": the UTC day.
    static func isoDate(unixMs: UInt64) -> String {
        // Howard Hinnant's days-to-civil algorithm, for days since 1970-01-01 (never negative here).
        let shifted = Int64(unixMs / 86_400_000) + 719_468
        let era = shifted / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return "\(year)-\(twoDigits(UInt64(month)))-\(twoDigits(UInt64(day)))"
    }

    /// Label-value lines with the values in one column, two spaces after the longest label.
    static func fields(_ pairs: [(String, String)]) -> String {
        let width = (pairs.map(\.0.count).max() ?? 0) + 2
        return pairs.map { padded($0.0, to: width) + $0.1 + "\n" }.joined()
    }

    /// Columns two spaces apart, each as wide as its widest cell; the last is not padded.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.indices.map { column in
                column == row.count - 1 ? row[column] : padded(row[column], to: widths[column] + 2)
            }.joined() + "\n"
        }.joined()
    }

    /// Indents compact JSON by two spaces per level, copying strings and numbers byte for byte
    /// (a reparse could round large integers).
    static func prettyJSON(_ compact: [UInt8]) -> String {
        let (space, newline) = (UInt8(ascii: " "), UInt8(ascii: "\n"))
        let (quote, backslash) = (UInt8(ascii: "\""), UInt8(ascii: "\\"))
        let isWhitespace = { (byte: UInt8) in byte == space || byte == newline || byte == 9 || byte == 13 }
        var output: [UInt8] = []
        output.reserveCapacity(compact.count * 2)
        var depth = 0
        var inString = false
        var escaped = false
        func breakLine() {
            output.append(newline)
            output.append(contentsOf: repeatElement(space, count: 2 * depth))
        }
        var index = 0
        while index < compact.count {
            let byte = compact[index]
            index += 1
            if inString {
                output.append(byte)
                if escaped {
                    escaped = false
                } else if byte == backslash {
                    escaped = true
                } else if byte == quote {
                    inString = false
                }
                continue
            }
            switch byte {
            case quote:
                inString = true
                output.append(byte)
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                output.append(byte)
                let closing = byte == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                var next = index
                while next < compact.count, isWhitespace(compact[next]) { next += 1 }
                if next < compact.count, compact[next] == closing {
                    output.append(closing)  // {} and [] stay on one line
                    index = next + 1
                } else {
                    depth += 1
                    breakLine()
                }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth = max(0, depth - 1)
                breakLine()
                output.append(byte)
            case UInt8(ascii: ","):
                output.append(byte)
                breakLine()
            case UInt8(ascii: ":"):
                output.append(contentsOf: [byte, space])
            default:
                if !isWhitespace(byte) { output.append(byte) }
            }
        }
        output.append(newline)
        return String(decoding: output, as: UTF8.self)
    }

    private static func twoDigits(_ value: UInt64) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
