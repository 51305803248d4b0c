/// What a provider's model list says: the ids it serves and, where it publishes them, each
/// model's prices.
public struct ListedModels: Sendable, Equatable {
    public var ids: Set<String>
    /// By provider model id; only the models whose entry carries a price.
    public var prices: [String: ListedPrice]

    public init(ids: Set<String>, prices: [String: ListedPrice] = [:]) {
        self.ids = ids
        self.prices = prices
    }
}

/// A model's prices as its provider's list publishes them, in micro-USD per million tokens (the
/// catalogue's unit). Nil: the entry gives no such price.
public struct ListedPrice: Sendable, Hashable {
    public var inputMicroUSDPerMillionTokens: UInt64?
    public var outputMicroUSDPerMillionTokens: UInt64?

    public init(inputMicroUSDPerMillionTokens: UInt64?, outputMicroUSDPerMillionTokens: UInt64?) {
        self.inputMicroUSDPerMillionTokens = inputMicroUSDPerMillionTokens
        self.outputMicroUSDPerMillionTokens = outputMicroUSDPerMillionTokens
    }
}

/// A provider's model list (`GET {base}/models`): the ids it says it serves.
public enum ModelList {
    /// Longest list body read; a real one is tens of kilobytes.
    static let maximumBodyBytes = 4 << 20

    /// The `GET` of a provider's model list.
    public static func httpRequest(provider: ProviderConfiguration, timeout: Duration) -> HTTPRequest {
        var headers: HTTPHeaders = [("Accept", "application/json")]
        if let key = provider.apiKey {
            headers.add(name: "Authorization", value: "Bearer " + key.value)
        }
        return HTTPRequest(method: .get, url: provider.baseURL + "/models", headers: headers, timeout: timeout)
    }

    /// The ids in a list body: the OpenAI shape (`{"object":"list","data":[{"id":...}]}`, Fireworks
    /// and Groq) or a bare array (`[{"id":...}]`, Together). Every other key is skipped; an item
    /// without a string `id` is left out. Throws when the body is neither shape: a list that
    /// cannot be read must not be taken for an empty one, which would retire every model.
    public static func ids(in body: [UInt8]) throws(ModelListError) -> Set<String> {
        try read(body).ids
    }

    /// The ids and the published prices. Prices are read from an item's `pricing` object, as
    /// Together publishes it: `{"input": 0.15, "output": 0.6, ...}` in USD per million tokens.
    /// A provider that publishes none (Fireworks, Groq) gives an empty `prices`.
    public static func read(_ body: [UInt8]) throws(ModelListError) -> ListedModels {
        do {
            return try JSONReader.read(body) { reader throws(JSONReader.Failure) in
                switch try reader.nextValueKind() {
                case .array:
                    return try readItems(&reader)
                case .object:
                    var ids: ListedModels?
                    try reader.beginObject()
                    while let key = try reader.nextKey() {
                        switch key {
                        case "data" where ids == nil:
                            ids = try readItems(&reader)
                        default:
                            try reader.skipValue()
                        }
                    }
                    guard let ids else { throw JSONReader.Failure(reason: "no \"data\" array", offset: 0) }
                    return ids
                default:
                    throw JSONReader.Failure(reason: "neither an array nor an object", offset: 0)
                }
            }
        } catch {
            throw ModelListError(message: "the provider's model list does not parse: \(error)")
        }
    }

    private static func readItems(_ reader: inout JSONReader) throws(JSONReader.Failure) -> ListedModels {
        var listed = ListedModels(ids: [])
        try reader.beginArray()
        while try reader.nextElement() {
            guard try reader.nextValueKind() == .object else {
                try reader.skipValue()
                continue
            }
            var id: String?
            var price: ListedPrice?
            try reader.beginObject()
            while let key = try reader.nextKey() {
                let kind = try reader.nextValueKind()
                if case "id" = key, kind == .string {
                    id = try reader.readString()
                } else if case "pricing" = key, kind == .object {
                    price = try readPricing(&reader)
                } else {
                    try reader.skipValue()
                }
            }
            guard let id else { continue }
            listed.ids.insert(id)
            if let price, price.inputMicroUSDPerMillionTokens != nil || price.outputMicroUSDPerMillionTokens != nil {
                listed.prices[id] = price
            }
        }
        return listed
    }

    /// `{"input": USD per Mtok, "output": USD per Mtok, ...}`; other members are skipped, and a
    /// price that is not a non-negative number is left out.
    private static func readPricing(_ reader: inout JSONReader) throws(JSONReader.Failure) -> ListedPrice {
        var price = ListedPrice(inputMicroUSDPerMillionTokens: nil, outputMicroUSDPerMillionTokens: nil)
        try reader.beginObject()
        while let key = try reader.nextKey() {
            let kind = try reader.nextValueKind()
            if case "input" = key, kind == .number {
                price.inputMicroUSDPerMillionTokens = microUSD(try reader.readDouble())
            } else if case "output" = key, kind == .number {
                price.outputMicroUSDPerMillionTokens = microUSD(try reader.readDouble())
            } else {
                try reader.skipValue()
            }
        }
        return price
    }

    /// USD per million tokens → micro-USD per million tokens, to the nearest micro-dollar.
    private static func microUSD(_ dollars: Double) -> UInt64? {
        guard dollars.isFinite, dollars >= 0, dollars < 1e9 else { return nil }
        return UInt64((dollars * 1_000_000).rounded())
    }
}

/// Why a model list could not be read: the transfer failed, the status was not 2xx, or the body
/// does not parse. A sentence for the log.
public struct ModelListError: Error, Sendable, Hashable, CustomStringConvertible {
    public let message: String

    public init(message: String) {
        self.message = message
    }

    public var description: String { message }
}
