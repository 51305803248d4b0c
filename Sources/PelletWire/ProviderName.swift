/// An inference provider's name, spelled as the wire, the catalogue, metering and the logs spell
/// it: "together", "fireworks", "groq", or one a catalogue defines ("local-vllm").
///
/// A string rather than an enum because the catalogue may define further OpenAI-compatible
/// providers at run time (and a reload may add some). Every module shares this one definition;
/// what is particular to a provider (its URL, its key's variable) lives in PelletProviders.
///
/// Metering stores the name's bytes between NUL separators, so a name is restricted to
/// lower-case letters, digits, '-', '_' and '.', at most ``maximumLength`` bytes: it can never
/// break a stored key, and names stored by earlier versions (the three built-ins) read unchanged.
public struct ProviderName: RawRepresentable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public let rawValue: String

    public static let maximumLength = 64

    /// Nil unless `rawValue` is a well-formed name (``isWellFormed(_:)``).
    public init?(rawValue: String) {
        guard Self.isWellFormed(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    private init(builtIn rawValue: String) {
        self.rawValue = rawValue
    }

    public static let together = ProviderName(builtIn: "together")
    public static let fireworks = ProviderName(builtIn: "fireworks")
    public static let groq = ProviderName(builtIn: "groq")

    /// The providers every Pellet knows, in name order (DESIGN.md section 2).
    public static let builtIn: [ProviderName] = [.fireworks, .groq, .together]

    public var isBuiltIn: Bool { Self.builtIn.contains(self) }

    public var description: String { rawValue }

    public static func < (lhs: ProviderName, rhs: ProviderName) -> Bool { lhs.rawValue < rhs.rawValue }

    /// 1 to 64 bytes of lower-case ASCII letters, digits, '-', '_' and '.', starting with a
    /// letter or digit.
    public static func isWellFormed(_ text: String) -> Bool {
        let bytes = text.utf8
        guard let first = bytes.first, bytes.count <= maximumLength, first != UInt8(ascii: "-"),
            first != UInt8(ascii: "."), first != UInt8(ascii: "_")
        else { return false }
        return bytes.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
        }
    }
}
