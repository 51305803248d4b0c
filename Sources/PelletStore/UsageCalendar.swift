/// Days and calendar months in UTC, as metering keys and budgets count them.
///
/// A day is days since 1970-01-01 UTC (the schema's `day`); a month is `year × 12 + month − 1`,
/// a number that grows by one each calendar month, so a key holding it sorts by time.
/// The civil-date conversions are Howard Hinnant's `days_from_civil` / `civil_from_days`:
/// exact for every date, no Foundation calendar (and its locale and time zone) involved.
public enum UsageCalendar {
    public static let millisecondsPerDay: UInt64 = 86_400_000

    /// The day (since 1970-01-01 UTC) holding `unixMs`.
    public static func day(unixMs: UInt64) -> UInt32 {
        UInt32(clamping: unixMs / millisecondsPerDay)
    }

    /// The first millisecond of `day`.
    public static func startOfDay(_ day: UInt32) -> UInt64 {
        UInt64(day) * millisecondsPerDay
    }

    /// The day of a calendar date; `month` is 1...12.
    public static func day(year: Int, month: Int, day: Int) -> UInt32 {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return UInt32(clamping: era * 146_097 + dayOfEra - 719_468)
    }

    /// The calendar date of `day`; `month` is 1...12.
    public static func date(ofDay day: UInt32) -> (year: Int, month: Int, day: Int) {
        let shifted = Int(day) + 719_468
        let era = shifted / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let dayOfMonth = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, dayOfMonth)
    }

    /// "YYYY-MM-DD" of `day`.
    public static func isoDate(ofDay day: UInt32) -> String {
        let date = date(ofDay: day)
        return "\(date.year)-\(twoDigits(date.month))-\(twoDigits(date.day))"
    }

    /// The month (`year × 12 + month − 1`) holding `unixMs`.
    public static func month(unixMs: UInt64) -> UInt32 {
        let date = date(ofDay: day(unixMs: unixMs))
        return UInt32(date.year * 12 + date.month - 1)
    }

    /// The year and month (1...12) of a month number.
    public static func yearAndMonth(_ month: UInt32) -> (year: Int, month: Int) {
        (Int(month) / 12, Int(month) % 12 + 1)
    }

    /// "YYYY-MM" of a month number.
    public static func isoMonth(_ month: UInt32) -> String {
        let (year, calendarMonth) = yearAndMonth(month)
        return "\(year)-\(twoDigits(calendarMonth))"
    }

    /// The first millisecond of a month number.
    public static func startOfMonth(_ month: UInt32) -> UInt64 {
        let (year, calendarMonth) = yearAndMonth(month)
        return startOfDay(day(year: year, month: calendarMonth, day: 1))
    }

    private static func twoDigits(_ value: Int) -> String {
        value < 10 ? "0\(value)" : "\(value)"
    }
}
