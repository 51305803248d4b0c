#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

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
        base62(count: count, prefix: prefix, drawBytes: 64, fill: fillRandom)
    }

    /// `base62(count:prefix:)` with bytes from `fill`, `drawBytes` at a time.
    private static func base62(
        count: Int, prefix: StaticString, drawBytes: Int, fill: (UnsafeMutableRawBufferPointer) -> Void
    ) -> String {
        let total = prefix.utf8CodeUnitCount + count
        // Written straight into the string's storage: no array in between.
        return String(unsafeUninitializedCapacity: total) { characters in
            var written = prefix.withUTF8Buffer { prefix in characters.initialize(from: prefix).1 }
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: drawBytes) { buffer in
                while written < total {
                    fill(UnsafeMutableRawBufferPointer(buffer))
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

    /// "req_" + 20 base62 characters (119 bits): a Complete call's request id. Its bytes come
    /// from `requestIDBytes`, 32 at a time (fewer than 20 of them are below 248 about once in
    /// 10^11 ids, and then it draws again): a system call per 8 ids rather than one per call.
    public static func requestID() -> String {
        base62(count: 20, prefix: "req_", drawBytes: MemoryLayout<SIMD32<UInt8>>.size) { buffer in
            let draw = requestIDBytes.withLock { $0.take32() }
            withUnsafeBytes(of: draw) { buffer.copyMemory(from: $0) }
        }
    }

    /// Kernel randomness drawn 1 KiB at a time for request ids, which must be unique and
    /// unguessable but are no secret (they are shown to the caller and stored): keys and the
    /// other identifiers still take their bytes straight from the kernel. Each byte is handed
    /// out once.
    private static let requestIDBytes = Mutex(RandomBytePool())

    private struct RandomBytePool: ~Copyable {
        private let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 1024, alignment: 8)
        private var next = 1024

        mutating func take32() -> SIMD32<UInt8> {
            if next + 32 > bytes.count {
                refill()
                next = 0
            }
            defer { next += 32 }
            return bytes.loadUnaligned(fromByteOffset: next, as: SIMD32<UInt8>.self)
        }

        /// getentropy(3) hands out at most 256 bytes a call.
        private func refill() {
            for start in stride(from: 0, to: bytes.count, by: 256) {
                fillRandom(UnsafeMutableRawBufferPointer(rebasing: bytes[start..<min(start + 256, bytes.count)]))
            }
        }

        deinit { bytes.deallocate() }
    }

    /// "plt_" + 43 base62 characters (256 bits).
    static func apiKey() -> String { base62(count: 43, prefix: "plt_") }
}
