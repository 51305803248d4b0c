import Foundation

/// An inference provider Pellet can call; all speak the OpenAI chat completions API.
public enum ProviderName: String, Sendable, Hashable, CaseIterable, Comparable, CustomStringConvertible {
    case together
    case fireworks
    case groq

    /// The API's base URL; `/chat/completions` is appended to it.
    public var defaultBaseURL: String {
        switch self {
        case .together: "https://api.together.ai/v1"
        case .fireworks: "https://api.fireworks.ai/inference/v1"
        case .groq: "https://api.groq.com/openai/v1"
        }
    }

    /// The environment variable holding the provider's API key.
    public var apiKeyEnvironmentVariable: String {
        switch self {
        case .together: "TOGETHER_API_KEY"
        case .fireworks: "FIREWORKS_API_KEY"
        case .groq: "GROQ_API_KEY"
        }
    }

    public var description: String { rawValue }

    public static func < (lhs: ProviderName, rhs: ProviderName) -> Bool {
        lhs.rawValue < rhs.rawValue
    }
}

/// A provider's API key. Prints as `<redacted>` however it is printed (interpolation, `dump`,
/// a logger's metadata), so that a configuration can be logged whole.
public struct APIKey: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Only the request builder reads it, to write the `Authorization` header.
    let value: String

    public init(_ value: String) {
        self.value = value
    }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// One provider's endpoint and credentials.
public struct ProviderConfiguration: Sendable, Hashable, CustomStringConvertible {
    public var name: ProviderName
    /// Without a trailing slash.
    public var baseURL: String
    /// Nil: the provider is disabled (Health reports it as `disabled`).
    public var apiKey: APIKey?

    public init(name: ProviderName, baseURL: String? = nil, apiKey: APIKey?) {
        self.name = name
        var url = baseURL ?? name.defaultBaseURL
        while url.hasSuffix("/") { url.removeLast() }
        self.baseURL = url
        self.apiKey = apiKey
    }

    public var isEnabled: Bool { apiKey != nil }

    /// `POST` target of a chat completion.
    public var chatCompletionsURL: String { baseURL + "/chat/completions" }

    /// "groq https://api.groq.com/openai/v1 (key set)"; never the key itself.
    public var description: String {
        "\(name) \(baseURL) (\(isEnabled ? "key set" : "disabled: \(name.apiKeyEnvironmentVariable) is not set"))"
    }

    /// Every provider, in name order: keys from `TOGETHER_API_KEY`, `FIREWORKS_API_KEY` and
    /// `GROQ_API_KEY` (unset or empty: disabled), base URLs from `overrides`
    /// (`pelletd --provider-url NAME=URL`) or the defaults.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment,
        overrides: [ProviderURLOverride] = []
    ) -> [ProviderConfiguration] {
        ProviderName.allCases.sorted().map { name in
            let key = environment[name.apiKeyEnvironmentVariable].flatMap { $0.isEmpty ? nil : APIKey($0) }
            let url = overrides.last { $0.name == name }?.baseURL
            return ProviderConfiguration(name: name, baseURL: url, apiKey: key)
        }
    }
}

/// `NAME=URL`, as given to `pelletd --provider-url`: points a provider at another base URL
/// (a mock provider, a proxy).
public struct ProviderURLOverride: Sendable, Hashable, CustomStringConvertible {
    public var name: ProviderName
    public var baseURL: String

    public init(name: ProviderName, baseURL: String) {
        self.name = name
        self.baseURL = baseURL
    }

    /// Parses `together=http://127.0.0.1:9001/v1`; the error says what is wrong in a sentence.
    public init(parsing argument: String) throws(ProviderConfigurationError) {
        guard let equals = argument.firstIndex(of: "=") else {
            throw ProviderConfigurationError("expected NAME=URL, got '\(argument)'")
        }
        let nameText = String(argument[..<equals])
        let url = String(argument[argument.index(after: equals)...])
        guard let name = ProviderName(rawValue: nameText.lowercased()) else {
            let known = ProviderName.allCases.map(\.rawValue).joined(separator: ", ")
            throw ProviderConfigurationError("unknown provider '\(nameText)' (known: \(known))")
        }
        let host = url.split(separator: "://", maxSplits: 1).dropFirst().first ?? ""
        guard url.hasPrefix("http://") || url.hasPrefix("https://"), !host.isEmpty else {
            throw ProviderConfigurationError("the URL for \(name) must start with http:// or https://, got '\(url)'")
        }
        self.init(name: name, baseURL: url)
    }

    public var description: String { "\(name)=\(baseURL)" }
}

/// A provider setting that does not parse.
public struct ProviderConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public let message: String

    init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
