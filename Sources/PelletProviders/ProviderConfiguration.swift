import Foundation
import PelletWire

/// Where a provider's API is and which environment variable holds its key: fixed for the
/// built-in providers, given by the catalogue for the others. Every provider speaks the OpenAI
/// chat completions API; what differs between them lives in this module.
public struct ProviderEndpoint: Sendable, Hashable {
    public var name: ProviderName
    /// The API's base URL; `/chat/completions` and `/models` are appended to it.
    public var defaultBaseURL: String
    /// The environment variable holding the API key; nil: the API takes no key (a local vLLM or
    /// Ollama), so the provider is enabled without one and sends no `Authorization` header.
    public var apiKeyEnvironmentVariable: String?

    public init(name: ProviderName, defaultBaseURL: String, apiKeyEnvironmentVariable: String?) {
        self.name = name
        self.defaultBaseURL = defaultBaseURL
        self.apiKeyEnvironmentVariable = apiKeyEnvironmentVariable
    }

    /// Together, Fireworks and Groq, in name order.
    public static let builtIn: [ProviderEndpoint] = [
        ProviderEndpoint(
            name: .fireworks, defaultBaseURL: "https://api.fireworks.ai/inference/v1",
            apiKeyEnvironmentVariable: "FIREWORKS_API_KEY"),
        ProviderEndpoint(
            name: .groq, defaultBaseURL: "https://api.groq.com/openai/v1", apiKeyEnvironmentVariable: "GROQ_API_KEY"),
        ProviderEndpoint(
            name: .together, defaultBaseURL: "https://api.together.ai/v1",
            apiKeyEnvironmentVariable: "TOGETHER_API_KEY"),
    ]

    /// The built-in provider's endpoint, or nil for another name.
    public static func builtIn(_ name: ProviderName) -> ProviderEndpoint? {
        builtIn.first { $0.name == name }
    }
}

extension ProviderName {
    /// A built-in provider's base URL ("" for any other: the catalogue gives theirs).
    public var defaultBaseURL: String { ProviderEndpoint.builtIn(self)?.defaultBaseURL ?? "" }

    /// A built-in provider's key variable ("" for any other: the catalogue gives theirs).
    public var apiKeyEnvironmentVariable: String { ProviderEndpoint.builtIn(self)?.apiKeyEnvironmentVariable ?? "" }
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
    /// Nil: no `Authorization` header; a provider that needs a key is then disabled (Health
    /// reports it as `disabled`).
    public var apiKey: APIKey?
    /// The environment variable the key comes from; nil when the provider takes no key.
    public var apiKeyEnvironmentVariable: String?

    /// A built-in provider (its default URL and key variable); another name takes no key.
    public init(name: ProviderName, baseURL: String? = nil, apiKey: APIKey?) {
        let endpoint = ProviderEndpoint.builtIn(name)
        self.init(
            name: name, baseURL: baseURL ?? endpoint?.defaultBaseURL ?? "", apiKey: apiKey,
            apiKeyEnvironmentVariable: endpoint?.apiKeyEnvironmentVariable)
    }

    public init(name: ProviderName, baseURL: String, apiKey: APIKey?, apiKeyEnvironmentVariable: String?) {
        self.name = name
        var url = baseURL
        while url.hasSuffix("/") { url.removeLast() }
        self.baseURL = url
        self.apiKey = apiKey
        self.apiKeyEnvironmentVariable = apiKeyEnvironmentVariable
    }

    /// A provider that needs a key is enabled when it has one; one that takes none always is.
    public var isEnabled: Bool { apiKey != nil || apiKeyEnvironmentVariable == nil }

    /// `POST` target of a chat completion.
    public var chatCompletionsURL: String { baseURL + "/chat/completions" }

    /// "groq https://api.groq.com/openai/v1 (key set)"; never the key itself.
    public var description: String {
        let state: String
        if let variable = apiKeyEnvironmentVariable {
            state = apiKey != nil ? "key set" : "disabled: \(variable) is not set"
        } else {
            state = "no key needed"
        }
        return "\(name) \(baseURL) (\(state))"
    }

    /// Every provider of `endpoints` (the built-in ones by default), in name order: each key
    /// from its environment variable (unset or empty: disabled), each base URL from `overrides`
    /// (`pelletd --provider-url NAME=URL`) or the endpoint's default.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment,
        endpoints: [ProviderEndpoint] = ProviderEndpoint.builtIn,
        overrides: [ProviderURLOverride] = []
    ) -> [ProviderConfiguration] {
        endpoints.sorted { $0.name < $1.name }.map { endpoint in
            let key = endpoint.apiKeyEnvironmentVariable.flatMap { environment[$0] }.flatMap {
                $0.isEmpty ? nil : APIKey($0)
            }
            let url = overrides.last { $0.name == endpoint.name }?.baseURL ?? endpoint.defaultBaseURL
            return ProviderConfiguration(
                name: endpoint.name, baseURL: url, apiKey: key,
                apiKeyEnvironmentVariable: endpoint.apiKeyEnvironmentVariable)
        }
    }

    /// The names of `overrides` that none of `endpoints` has: `--provider-url` for a provider
    /// neither built in nor defined by the catalogue.
    public static func unknownNames(in overrides: [ProviderURLOverride], endpoints: [ProviderEndpoint]) -> [ProviderName] {
        overrides.map(\.name).filter { name in !endpoints.contains { $0.name == name } }
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
        // Any well-formed name: whether a provider of that name exists is known only once the
        // catalogue (which may define providers) is read (`unknownNames(in:endpoints:)`).
        guard let name = ProviderName(rawValue: nameText.lowercased()) else {
            throw ProviderConfigurationError(
                "'\(nameText)' is not a provider name (lower-case letters, digits, '-', '_' and '.')")
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
