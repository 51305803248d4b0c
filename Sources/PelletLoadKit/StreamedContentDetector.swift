/// Spots the first content delta in an OpenAI-compatible SSE stream, across body chunks of any
/// size, without buffering: it matches `"content":"` followed by anything but `"` (an empty
/// content, as in the role chunk that opens a stream, does not count).
///
/// The mock provider (and OpenAI's own API) write the key without spaces; a provider that put
/// spaces in would go unnoticed, and its streams would have no first-chunk figure.
struct StreamedContentDetector {
    private static let pattern: [UInt8] = Array(#""content":""#.utf8)
    private var matched = 0

    /// Feeds the next bytes of the body; true once a non-empty content value has started.
    mutating func feed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        for byte in bytes {
            if matched == Self.pattern.count {
                if byte != UInt8(ascii: "\"") { return true }
                // `"content":""`: that closing quote may open the next key.
                matched = 1
                continue
            }
            if byte == Self.pattern[matched] {
                matched += 1
            } else {
                // The pattern's only border is its leading quote.
                matched = byte == UInt8(ascii: "\"") ? 1 : 0
            }
        }
        return false
    }
}
