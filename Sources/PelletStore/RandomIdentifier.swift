/// Random base62 strings for ids and API keys.
public enum RandomIdentifier {
    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// `count` characters drawn uniformly from [0-9A-Za-z].
    ///
    /// `SystemRandomNumberGenerator` is a CSPRNG (getrandom(2) on Linux), so the result is fit
    /// for secrets. A byte maps to a character only when it is below 248 = 4 × 62; the others are
    /// dropped (rejection sampling), because `byte % 62` over all 256 values would make the
    /// first eight characters more likely than the rest.
    public static func base62(count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        var characters: [UInt8] = []
        characters.reserveCapacity(count)
        while characters.count < count {
            var word: UInt64 = generator.next()
            for _ in 0..<8 where characters.count < count {
                let byte = UInt8(truncatingIfNeeded: word)
                word >>= 8
                if byte < 248 {
                    characters.append(alphabet[Int(byte % 62)])
                }
            }
        }
        return String(decoding: characters, as: UTF8.self)
    }

    /// "acc_" + 16 base62 characters (95 bits).
    static func accountID() -> String { "acc_" + base62(count: 16) }

    /// "key_" + 16 base62 characters (95 bits).
    static func keyID() -> String { "key_" + base62(count: 16) }

    /// "req_" + 20 base62 characters (119 bits): a Complete call's request id. Three draws from
    /// the generator (each a `getrandom` system call) rather than one per character.
    public static func requestID() -> String { "req_" + base62(count: 20) }

    /// "plt_" + 43 base62 characters (256 bits).
    static func apiKey() -> String { "plt_" + base62(count: 43) }
}
