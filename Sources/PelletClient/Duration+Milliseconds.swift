extension Duration {
    /// The REQUEST frame's timeout field: whole milliseconds, rounded up so that a short timeout
    /// never becomes 0 ("server default"), clamped to the field's range.
    var wireMilliseconds: UInt32 {
        guard self > .zero else { return 0 }
        let (seconds, attoseconds) = components
        let (wholeMilliseconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000)
        guard !overflow else { return .max }
        let partialMilliseconds = (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        let total = wholeMilliseconds.addingReportingOverflow(partialMilliseconds)
        guard !total.overflow, total.partialValue < Int64(UInt32.max) else { return .max }
        return UInt32(total.partialValue)
    }

    /// "250 ms", for error messages.
    var millisecondsDescription: String {
        let (seconds, attoseconds) = components
        let milliseconds = Double(seconds) * 1_000 + Double(attoseconds) / 1e15
        if milliseconds == milliseconds.rounded() || milliseconds >= 100 {
            return "\(Int64(milliseconds.rounded())) ms"
        }
        return "\((milliseconds * 10).rounded() / 10) ms"
    }
}
