#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Random base62 strings for ids and API keys.
public enum RandomIdentifier {
    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// `prefix` then `count` characters drawn uniformly from [0-9A-Za-z].
    ///
    /// The bytes come from getrandom(2), a CSPRNG, so the result is fit for secrets: 64 bytes a
    /// system call, which covers every identifier here in one (usually). A byte maps to a character only
    /// when it is below 248 = 4 × 62; the others are dropped (rejection sampling), because
    /// `byte % 62` over all 256 values would make the first eight characters more likely than
    /// the rest.
    public static func base62(count: Int, prefix: StaticString = "") -> String {
        let total = prefix.utf8CodeUnitCount + count
        // Written straight into the string's storage: no array in between.
        return String(unsafeUninitializedCapacity: total) { characters in
            var written = prefix.withUTF8Buffer { prefix in characters.initialize(from: prefix).1 }
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buffer in
                while written < total {
                    fillRandom(UnsafeMutableRawBufferPointer(buffer))
                    for byte in buffer where written < total && byte < 248 {
                        characters[written] = alphabet[Int(byte % 62)]
                        written += 1
                    }
                }
            }
            return total
        }
    }

    /// Fills `buffer` (at most 256 bytes) from the kernel's CSPRNG: `getentropy` is one
    /// getrandom(2) system call, where `SystemRandomNumberGenerator` makes one per 8 bytes.
    private static func fillRandom(_ buffer: UnsafeMutableRawBufferPointer) {
        #if os(Linux)
        if getentropy(buffer.baseAddress, buffer.count) == 0 { return }
        #endif
        // Not expected (getentropy fails only for bad arguments), and elsewhere: the generator.
        var generator = SystemRandomNumberGenerator()
        for index in buffer.indices { buffer[index] = generator.next() }
    }

    /// "acc_" + 16 base62 characters (95 bits).
    static func accountID() -> String { base62(count: 16, prefix: "acc_") }

    /// "key_" + 16 base62 characters (95 bits).
    static func keyID() -> String { base62(count: 16, prefix: "key_") }

    /// "req_" + 20 base62 characters (119 bits): a Complete call's request id, from one
    /// `getrandom` system call.
    public static func requestID() -> String { base62(count: 20, prefix: "req_") }

    /// "plt_" + 43 base62 characters (256 bits).
    static func apiKey() -> String { base62(count: 43, prefix: "plt_") }
}
