import Foundation
import PelletWire

/// A provider the catalogue defines beyond the built-in ones: any OpenAI-compatible API (an
/// internal vLLM, SGLang or Ollama). PelletProviders turns it into an endpoint configuration.
public struct CatalogueProvider: Sendable, Equatable {
    public var name: ProviderName
    /// The API's base URL (`/chat/completions` and `/models` are appended), http:// or https://.
    public var baseURL: String
    /// The environment variable holding its API key; nil: the API takes no key (a local server),
    /// so it is enabled without one and no `Authorization` header is sent.
    public var apiKeyEnvironmentVariable: String?

    public init(name: ProviderName, baseURL: String, apiKeyEnvironmentVariable: String?) {
        self.name = name
        self.baseURL = baseURL
        self.apiKeyEnvironmentVariable = apiKeyEnvironmentVariable
    }
}

/// One provider's offer of a model: its own name for it, its prices and typical speed.
public struct ProviderOffer: Sendable, Equatable {
    public var provider: ProviderName
    /// The model name the provider's API takes ("openai/gpt-oss-120b", "accounts/fireworks/models/glm-5p3").
    public var providerModel: String
    /// Micro-USD per million prompt tokens (so 180000 is $0.18 per million).
    public var inputMicroUSDPerMillionTokens: UInt64
    /// Micro-USD per million completion tokens.
    public var outputMicroUSDPerMillionTokens: UInt64
    /// Micro-USD per million prompt tokens the provider reports as served from its prompt cache
    /// (`usage.prompt_tokens_details.cached_tokens`); nil when it publishes no cached price, and
    /// then cached tokens cost the input price.
    public var cachedInputMicroUSDPerMillionTokens: UInt64?
    /// This provider's own context window when it differs from the model's smallest one.
    public var contextWindow: Int?
    /// Typical time to first token, milliseconds.
    public var timeToFirstTokenMs: UInt32
    /// Typical output speed, tokens per second.
    public var outputTokensPerSecond: Double
    /// The pricing page the prices were read from.
    public var priceSource: String

    public init(
        provider: ProviderName,
        providerModel: String,
        inputMicroUSDPerMillionTokens: UInt64,
        outputMicroUSDPerMillionTokens: UInt64,
        cachedInputMicroUSDPerMillionTokens: UInt64? = nil,
        contextWindow: Int? = nil,
        timeToFirstTokenMs: UInt32,
        outputTokensPerSecond: Double,
        priceSource: String
    ) {
        self.provider = provider
        self.providerModel = providerModel
        self.inputMicroUSDPerMillionTokens = inputMicroUSDPerMillionTokens
        self.outputMicroUSDPerMillionTokens = outputMicroUSDPerMillionTokens
        self.cachedInputMicroUSDPerMillionTokens = cachedInputMicroUSDPerMillionTokens
        self.contextWindow = contextWindow
        self.timeToFirstTokenMs = timeToFirstTokenMs
        self.outputTokensPerSecond = outputTokensPerSecond
        self.priceSource = priceSource
    }
}

/// A model's quality on one task type, 0...1, and the published figure it was derived from.
public struct QualityScore: Sendable, Equatable {
    public var score: Double
    /// The benchmark behind the score ("HumanEval", "MATH", "GPQA Diamond", ...).
    public var benchmark: String
    /// The benchmark's published figure, as the source prints it (nil when none was published).
    public var value: Double?
    /// Where the figure is published: a model card, a paper or a leaderboard.
    public var source: String
    public var url: String
    /// "published" (the model's own figure on `benchmark`) or "estimate" (see CATALOGUE_SOURCES.md).
    public var basis: String

    public init(score: Double, benchmark: String, value: Double?, source: String, url: String, basis: String) {
        self.score = score
        self.benchmark = benchmark
        self.value = value
        self.source = source
        self.url = url
        self.basis = basis
    }
}

/// A model in the catalogue: the providers that serve it and how good it is at each task.
public struct CatalogueModel: Sendable, Equatable {
    /// Pellet's canonical id ("gpt-oss-120b"): what callers pass as `model`.
    public var id: String
    public var name: String
    /// Prompt plus completion tokens the model accepts (the smallest any provider serves).
    public var contextWindow: Int
    /// The model thinks before it answers: its reasoning tokens are billed as output, so the
    /// router expects more output than the visible answer (`RoutingPolicy.reasoningOutputMultiplier`).
    public var reasoning: Bool
    /// At least one; no provider appears twice.
    public var offers: [ProviderOffer]
    /// One score per task type, in `TaskType.allCases` order.
    public var quality: [QualityScore]

    public init(
        id: String,
        name: String,
        contextWindow: Int,
        reasoning: Bool = false,
        offers: [ProviderOffer],
        quality: [QualityScore]
    ) {
        precondition(quality.count == TaskType.allCases.count, "one quality score per task type")
        self.id = id
        self.name = name
        self.contextWindow = contextWindow
        self.reasoning = reasoning
        self.offers = offers
        self.quality = quality
    }

    public func quality(for task: TaskType) -> QualityScore {
        quality[task.index]
    }

    public func offer(on provider: ProviderName) -> ProviderOffer? {
        offers.first { $0.provider == provider }
    }
}

/// The models Pellet routes between, loaded from JSON and checked before it is used.
///
/// The bundled `catalogue.json` is the default; `pelletd --catalogue FILE` replaces it at start-up.
/// A file is refused with a `CatalogueError` naming the line, the column and the reason, both for
/// malformed JSON and for content that makes no sense (an unknown provider or task type, a price
/// that is not positive, a duplicate id, a model no provider serves).
public struct Catalogue: Sendable {
    public let models: [CatalogueModel]
    /// The date the prices were read ("2026-12-07").
    public let pricesRead: String
    public let priceSources: [String]
    public let notes: String
    /// Providers this catalogue defines beyond the built-in ones, in file order.
    public let providerDefinitions: [CatalogueProvider]
    /// Every provider a request may name: the built-in ones and those defined, in name order.
    public let providers: [ProviderName]
    /// A stable hash of the file's bytes (FNV-1a 64, hex): part of every decision's policy_version.
    public let fingerprint: String

    private let indexByID: [String: Int]
    /// Each model's position when the models are sorted by id (ranking's last tie-break).
    let nameRank: [Int]
    /// The models as every decision reads them.
    let routingTable: RoutingTable

    public init(data bytes: [UInt8]) throws(CatalogueError) {
        let document = try PositionedJSON.parse(bytes)
        var decoder = CatalogueDecoder(bytes: bytes)
        let contents = try decoder.decode(document)
        self.models = contents.models
        self.pricesRead = contents.pricesRead
        self.priceSources = contents.priceSources
        self.notes = contents.notes
        self.providerDefinitions = contents.providers
        self.providers = (ProviderName.builtIn + contents.providers.map(\.name)).sorted()
        self.fingerprint = StableHash.hex(StableHash.fnv1a64(bytes))
        var index: [String: Int] = [:]
        for (position, model) in models.enumerated() { index[model.id] = position }
        self.indexByID = index
        let decoded = contents.models
        var rank = [Int](repeating: 0, count: decoded.count)
        for (position, modelIndex) in decoded.indices.sorted(by: { decoded[$0].id < decoded[$1].id }).enumerated() {
            rank[modelIndex] = position
        }
        self.nameRank = rank
        self.routingTable = RoutingTable(models: decoded, nameRank: rank, providers: providers)
    }

    func index(ofModel id: String) -> Int? {
        indexByID[id]
    }

    public init(data: Data) throws(CatalogueError) {
        try self.init(data: [UInt8](data))
    }

    public init(contentsOf path: String) throws(CatalogueError) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CatalogueError(
                line: 0,
                column: 0,
                reason: "cannot read catalogue \(path): \(error.localizedDescription)"
            )
        }
        try self.init(data: data)
    }

    /// The catalogue shipped with Pellet.
    public static func loadBundled() throws(CatalogueError) -> Catalogue {
        guard let url = Bundle.module.url(forResource: "catalogue", withExtension: "json") else {
            throw CatalogueError(line: 0, column: 0, reason: "the bundled catalogue.json is missing from the resources")
        }
        return try Catalogue(contentsOf: url.path)
    }

    /// The catalogue shipped with Pellet. The tests load and check it, so a bad bundled file is a
    /// build defect, not a runtime condition: it stops the process with the reason.
    public static let bundled: Catalogue = {
        do {
            return try loadBundled()
        } catch {
            fatalError("bundled catalogue.json is invalid: \(error)")
        }
    }()

    /// A provider the catalogue knows (built in or defined), by name.
    public func provider(named name: String) -> ProviderName? {
        providers.first { $0.rawValue == name }
    }

    public func model(id: String) -> CatalogueModel? {
        indexByID[id].map { models[$0] }
    }
}

extension TaskType {
    /// Position in `allCases`: the order of `CatalogueModel.quality` and the classifier's lanes.
    var index: Int {
        switch self {
        case .code: 0
        case .math: 1
        case .reasoning: 2
        case .extraction: 3
        case .summarization: 4
        case .translation: 5
        case .classification: 6
        case .creative: 7
        case .qa: 8
        case .chat: 9
        }
    }
}

/// Hashes that are the same in every process and on every platform (unlike `Hasher`).
enum StableHash {
    static let offset64: UInt64 = 0xcbf2_9ce4_8422_2325
    static let prime64: UInt64 = 0x0000_0100_0000_01b3

    static func fnv1a64(_ bytes: some Sequence<UInt8>, seed: UInt64 = offset64) -> UInt64 {
        var hash = seed
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* prime64
        }
        return hash
    }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
