import Foundation

/// Text and JSON formatting shared by the subcommands.
enum Output {
    static func printError(_ text: String) {
        FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
    }

    /// One line of compact JSON with sorted keys.
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
