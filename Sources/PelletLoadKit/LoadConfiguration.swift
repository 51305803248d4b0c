import PelletClient
import PelletWire

/// Everything a run needs, checked: `init(options:)` turns the command line's raw values into a
/// configuration or a `LoadError` that names the flag at fault.
public struct LoadConfiguration: Sendable {
    /// The flags as given, before any check; the CLI fills it in, tests build it directly.
    public struct Options: Sendable {
        public var target: String
        public var method = "health"
        public var connections = 1
        public var inFlight = 1
        /// Requests per second in total; nil = closed loop.
        public var rate: Double?
        public var durationSeconds = 10.0
        public var warmupSeconds = 1.0
        public var promptsFile: String?
        public var apiKey: String?
        public var model = "auto"
        public var preference = "balanced"
        public var maxTokens = 64
        public var drainSeconds = 10.0
        /// For a tls:// target: the CA to trust and, for mutual TLS, the client's certificate.
        public var tls = ClientTLSOptions()
        /// "nio" (PelletClient) or "lean" (a socket and a thread per connection).
        public var client = "nio"

        public init(target: String) {
            self.target = target
        }
    }

    public var target: LoadTarget
    /// The target as written on the command line, for the report.
    public var targetText: String
    public var method: LoadMethod
    public var connections: Int
    public var inFlight: Int
    public var rate: Double?
    public var duration: Duration
    public var warmup: Duration
    public var prompts: [String]
    public var apiKey: String
    public var model: String
    public var preference: Preference
    public var maxTokens: Int
    /// How long calls still in flight when the measured time ends may take to finish before they
    /// are abandoned (and counted as sent, not completed).
    public var drainTimeout: Duration
    public var tls: ClientTLSOptions
    public var client: LoadClient

    /// More calls than this in flight at once would measure the generator, not the server.
    public static let maxConcurrency = 100_000

    public init(options: Options, prompts loadPrompts: (String) throws(LoadError) -> [String]) throws(LoadError) {
        guard let method = LoadMethod(rawValue: options.method) else {
            throw LoadError(
                "--method \"\(options.method)\" is not a method pellet-load knows; use one of \(LoadMethod.choices)"
            )
        }
        let target = try LoadTarget(parsing: options.target)
        if target.isHTTP && !method.isAvailableOverHTTP {
            throw LoadError(
                "--method \(method) cannot be sent to an http:// target: a provider serves only "
                    + "complete and complete-stream (use unix: or tcp:// to reach pelletd)"
            )
        }
        guard options.connections >= 1 else {
            throw LoadError("--connections must be at least 1, not \(options.connections)")
        }
        guard options.inFlight >= 1 else {
            throw LoadError("--in-flight must be at least 1, not \(options.inFlight)")
        }
        let (concurrency, overflow) = options.connections.multipliedReportingOverflow(by: options.inFlight)
        guard !overflow, concurrency <= Self.maxConcurrency else {
            throw LoadError(
                "--connections × --in-flight must be at most \(Self.maxConcurrency), "
                    + "not \(options.connections) × \(options.inFlight)"
            )
        }
        if let rate = options.rate {
            guard rate.isFinite, rate > 0 else {
                throw LoadError(
                    "--rate must be a positive number of requests per second, not \(Self.format(rate)) "
                        + "(leave it out for a closed loop)"
                )
            }
            guard rate <= 10_000_000 else {
                throw LoadError("--rate must be at most 10000000 requests per second, not \(Self.format(rate))")
            }
        }
        guard options.durationSeconds.isFinite, options.durationSeconds > 0, options.durationSeconds <= 86_400 else {
            throw LoadError(
                "--duration must be a number of seconds above 0 and at most 86400, not \(Self.format(options.durationSeconds))"
            )
        }
        guard options.warmupSeconds.isFinite, options.warmupSeconds >= 0, options.warmupSeconds <= 86_400 else {
            throw LoadError(
                "--warmup must be a number of seconds from 0 to 86400, not \(Self.format(options.warmupSeconds))"
            )
        }
        guard options.drainSeconds.isFinite, options.drainSeconds >= 0, options.drainSeconds <= 3_600 else {
            throw LoadError(
                "--drain must be a number of seconds from 0 to 3600, not \(Self.format(options.drainSeconds))"
            )
        }
        guard let preference = Self.preferences[options.preference] else {
            throw LoadError(
                "--preference \"\(options.preference)\" is not one of cost|quality|latency|balanced"
            )
        }
        guard (1...1_000_000).contains(options.maxTokens) else {
            throw LoadError("--max-tokens must be from 1 to 1000000, not \(options.maxTokens)")
        }
        guard !options.model.isEmpty else { throw LoadError("--model may not be empty") }
        let apiKey = options.apiKey ?? ""
        if method.needsAPIKey && !target.isHTTP && apiKey.isEmpty {
            throw LoadError(
                "--method \(method) needs an API key: pass --api-key KEY or set PELLET_API_KEY "
                    + "(pelletctl key create ACCOUNT makes one)"
            )
        }
        guard let client = LoadClient(rawValue: options.client) else {
            throw LoadError("--client \"\(options.client)\" is not one of \(LoadClient.choices)")
        }
        if client == .lean {
            switch target {
            case .pellet(let address):
                guard !address.isTLS else {
                    throw LoadError(
                        "--client lean speaks plaintext (unix:, tcp://, http://); use the nio client for \(target)")
                }
                guard method.isUnary else {
                    throw LoadError(
                        "--client lean makes unary calls (route, complete, usage, health); "
                            + "use the nio client for \(method)")
                }
            case .http:
                guard !method.isStreamed else {
                    throw LoadError(
                        "--client lean sends unary complete calls over http:// (pipelined on keep-alive connections); "
                            + "use the nio client for \(method), whose first chunk it times")
                }
            }
        }
        let prompts = try options.promptsFile.map(loadPrompts) ?? PromptCorpus.builtIn

        self.target = target
        self.targetText = options.target
        self.tls = options.tls
        self.client = client
        self.method = method
        self.connections = options.connections
        self.inFlight = options.inFlight
        self.rate = options.rate
        self.duration = Self.duration(seconds: options.durationSeconds)
        self.warmup = Self.duration(seconds: options.warmupSeconds)
        self.prompts = prompts
        self.apiKey = apiKey
        self.model = options.model
        self.preference = preference
        self.maxTokens = options.maxTokens
        self.drainTimeout = Self.duration(seconds: options.drainSeconds)
    }

    /// `init(options:prompts:)` reading `--prompts` from the file system.
    public init(options: Options) throws(LoadError) {
        try self.init(options: options, prompts: PromptCorpus.load(path:))
    }

    public var isOpenLoop: Bool { rate != nil }

    private static let preferences: [String: Preference] = [
        "balanced": .balanced, "cost": .cost, "quality": .quality, "latency": .latency,
    ]

    private static func duration(seconds: Double) -> Duration {
        .nanoseconds(Int64((seconds * 1e9).rounded()))
    }

    /// "0", "0.5", "-3": a flag's value as the user most likely wrote it.
    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}

/// Which client makes a run's calls over the Pellet protocol.
public enum LoadClient: String, Sendable, CaseIterable {
    /// PelletClient: async calls multiplexed on a NIO channel, every method and TLS.
    case nio
    /// A plain socket and a thread per connection (`LeanConnection`): unary calls over unix: and
    /// tcp:// to pelletd, and complete over http:// to a provider (pipelined HTTP/1.1), with little
    /// enough client work per call that the server is what is measured.
    case lean

    public static var choices: String { allCases.map(\.rawValue).joined(separator: "|") }
}

extension PelletAddress {
    var isTLS: Bool {
        if case .tls = self { return true }
        return false
    }
}
