import Foundation

/// Reads how long a provider asks us to wait (`Retry-After`, RFC 9110 section 10.2.3).
public enum RetryAfter {
    /// From a response's headers: `retry-after-ms` (milliseconds, sent by OpenAI-style APIs)
    /// when present, else `retry-after`. Nil when neither is there or parses.
    public static func delay(in headers: HTTPHeaders, now: Date = Date()) -> Duration? {
        if let milliseconds = headers["retry-after-ms"].flatMap({ nonNegativeDecimal($0, maximum: 86_400_000) }) {
            return .milliseconds(Int64(milliseconds.rounded(.up)))
        }
        return headers["retry-after"].flatMap { parse($0, now: now) }
    }

    /// `Retry-After` is delay-seconds (`120`; a fraction is accepted) or an HTTP-date
    /// (`Sun, 06 Nov 1994 08:49:37 GMT`, or the obsolete RFC 850 and asctime forms). A date
    /// in the past is a delay of zero. Nil when the value is neither.
    public static func parse(_ value: String, now: Date = Date()) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = nonNegativeDecimal(trimmed, maximum: 86_400) {
            return .milliseconds(Int64((seconds * 1000).rounded(.up)))
        }
        guard let date = httpDate(trimmed) else { return nil }
        let seconds = max(0, date.timeIntervalSince(now))
        return .milliseconds(Int64((seconds * 1000).rounded(.up)))
    }

    /// A non-negative decimal number, clamped to `maximum` (a day: longer is nonsense for a retry).
    private static func nonNegativeDecimal(_ text: String, maximum: Double) -> Double? {
        let text = text.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty, text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E }),
            let value = Double(text), value.isFinite
        else { return nil }
        return min(value, maximum)
    }

    /// Parses the three date formats RFC 9110 requires recipients to accept; always GMT.
    static func httpDate(_ text: String) -> Date? {
        // "Sun, 06 Nov 1994 08:49:37 GMT" / "Sunday, 06-Nov-94 08:49:37 GMT" / "Sun Nov  6 08:49:37 1994"
        let tokens = text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "-" })
        guard tokens.count >= 5, tokens[0].allSatisfy(\.isLetter) else { return nil }
        let day: Int
        let month: Int
        var year: Int
        let time: Substring
        if let dayNumber = Int(tokens[1]) {
            guard let monthNumber = monthNumber(tokens[2]), let yearNumber = Int(tokens[3]) else { return nil }
            day = dayNumber
            month = monthNumber
            year = yearNumber
            time = tokens[4]
            if tokens.count > 5, tokens[5] != "GMT", tokens[5] != "UTC" { return nil }
        } else {
            guard let monthNumber = monthNumber(tokens[1]), let dayNumber = Int(tokens[2]),
                let yearNumber = Int(tokens[4])
            else { return nil }
            day = dayNumber
            month = monthNumber
            year = yearNumber
            time = tokens[3]
        }
        if year < 100 {
            year += year < 70 ? 2000 : 1900  // RFC 850's two-digit years
        }
        let clock = time.split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3, (1...31).contains(day), (0...23).contains(clock[0]), (0...59).contains(clock[1]),
            (0...60).contains(clock[2])
        else { return nil }
        let days = daysSinceEpoch(year: year, month: month, day: day)
        let seconds = days * 86_400 + clock[0] * 3600 + clock[1] * 60 + clock[2]
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    private static func monthNumber(_ name: Substring) -> Int? {
        let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        return months.firstIndex(of: name.lowercased()).map { $0 + 1 }
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    private static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
