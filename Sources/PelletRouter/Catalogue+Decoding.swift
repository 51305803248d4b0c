import PelletWire

/// Reads a parsed catalogue document into models, refusing anything that would mislead routing.
///
/// Every error names the value at fault by line and column, and the model it belongs to.
struct CatalogueDecoder {
    struct Contents {
        var models: [CatalogueModel]
        var pricesRead: String
        var priceSources: [String]
        var notes: String
        var providers: [CatalogueProvider]
    }

    let bytes: [UInt8]
    /// The providers an offer may name: the built-in ones, then those the file defines.
    private var knownProviders: [ProviderName] = ProviderName.builtIn

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    func error(_ reason: String, at offset: Int) -> CatalogueError {
        let position = SourcePosition(offset: offset, in: bytes)
        return CatalogueError(line: position.line, column: position.column, reason: reason)
    }

    mutating func decode(_ document: PositionedJSON) throws(CatalogueError) -> Contents {
        let top = try object(document, context: "the catalogue")
        try top.rejectUnknownKeys(["schema_version", "prices_read", "price_sources", "notes", "providers", "models"])
        let version = try top.positiveInteger("schema_version")
        // Version 2 added `reasoning`, `cached_input_micro_usd_per_mtok` and a provider's own
        // `context_window`, all optional; version 3 the optional `providers`: an older file
        // still reads.
        guard (1...3).contains(version) else {
            throw error(
                "unsupported schema_version \(version); this Pellet reads versions 1 to 3",
                at: top.offset(of: "schema_version")
            )
        }
        var providers: [CatalogueProvider] = []
        if let providersNode = top.optional("providers") {
            guard version >= 3 else {
                throw error(
                    "\"providers\" needs schema_version 3 (this file says \(version))", at: top.offset(of: "providers"))
            }
            providers = try decodeProviders(providersNode)
            knownProviders += providers.map(\.name)
        }
        let pricesRead = try top.string("prices_read")
        guard Self.isDate(pricesRead) else {
            throw error(
                "prices_read must be a date YYYY-MM-DD, got \"\(pricesRead)\"",
                at: top.offset(of: "prices_read")
            )
        }
        let notes = try top.optionalString("notes") ?? ""
        var priceSources: [String] = []
        for node in try top.array("price_sources") {
            guard case .string(let url) = node.value, !url.isEmpty else {
                throw error("price_sources must hold URLs as strings", at: node.offset)
            }
            priceSources.append(url)
        }

        let modelNodes = try top.array("models")
        guard !modelNodes.isEmpty else { throw error("models is empty", at: top.offset(of: "models")) }
        var models: [CatalogueModel] = []
        var firstOffset: [String: Int] = [:]
        for (position, node) in modelNodes.enumerated() {
            let model = try decodeModel(node, position: position)
            if let earlier = firstOffset[model.id] {
                let line = SourcePosition(offset: earlier, in: bytes).line
                throw error("duplicate model id \"\(model.id)\" (first defined at line \(line))", at: node.offset)
            }
            firstOffset[model.id] = node.offset
            models.append(model)
        }
        return Contents(
            models: models, pricesRead: pricesRead, priceSources: priceSources, notes: notes, providers: providers)
    }

    /// `providers`: further OpenAI-compatible APIs, each `{"name", "base_url", "api_key_env"}`
    /// (`api_key_env` optional: a local server that takes no key).
    private func decodeProviders(_ node: PositionedJSON) throws(CatalogueError) -> [CatalogueProvider] {
        guard case .array(let elements) = node.value else {
            throw error("\"providers\" must be an array, found \(node.kindName)", at: node.offset)
        }
        var providers: [CatalogueProvider] = []
        for (position, element) in elements.enumerated() {
            let raw = try object(element, context: "providers[\(position)]")
            let nameText = try raw.string("name")
            guard let name = ProviderName(rawValue: nameText) else {
                throw error(
                    "provider name \"\(nameText)\" must be 1 to \(ProviderName.maximumLength) lower-case letters, digits, '-', '_' and '.', starting with a letter or digit",
                    at: raw.offset(of: "name"))
            }
            if name.isBuiltIn {
                throw error(
                    "provider \"\(name)\" is built in; point it elsewhere with pelletd --provider-url \(name)=URL",
                    at: raw.offset(of: "name"))
            }
            if providers.contains(where: { $0.name == name }) {
                throw error("provider \"\(name)\" is defined twice", at: raw.offset(of: "name"))
            }
            let fields = raw.renamed("provider \"\(name)\"")
            try fields.rejectUnknownKeys(["name", "base_url", "api_key_env", "notes"])
            let url = try fields.string("base_url")
            let host = url.split(separator: "://", maxSplits: 1).dropFirst().first ?? ""
            guard url.hasPrefix("http://") || url.hasPrefix("https://"), !host.isEmpty else {
                throw error(
                    "provider \"\(name)\": base_url must start with http:// or https://, got \"\(url)\"",
                    at: fields.offset(of: "base_url"))
            }
            let keyVariable = try fields.optionalString("api_key_env")
            if let keyVariable, !Self.isEnvironmentVariableName(keyVariable) {
                throw error(
                    "provider \"\(name)\": api_key_env must be an environment variable name (A-Z, 0-9, _), got \"\(keyVariable)\"",
                    at: fields.offset(of: "api_key_env"))
            }
            providers.append(CatalogueProvider(name: name, baseURL: url, apiKeyEnvironmentVariable: keyVariable))
        }
        return providers
    }

    static func isEnvironmentVariableName(_ text: String) -> Bool {
        guard let first = text.utf8.first, !(first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")) else {
            return false
        }
        return text.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_")
        }
    }

    private func decodeModel(_ node: PositionedJSON, position: Int) throws(CatalogueError) -> CatalogueModel {
        let fields = try object(node, context: "models[\(position)]")
        let id = try fields.string("id")
        guard Self.isIdentifier(id) else {
            throw error(
                "model id \"\(id)\" must be lower-case letters, digits, '.', '-' and '_'",
                at: fields.offset(of: "id")
            )
        }
        let model = fields.renamed("model \"\(id)\"")
        try model.rejectUnknownKeys(["id", "name", "context_window", "reasoning", "providers", "quality", "notes"])
        let name = try model.string("name")
        let contextWindow = try model.positiveInteger("context_window")
        let reasoning = try model.optionalBool("reasoning") ?? false

        let offerNodes = try model.array("providers")
        guard !offerNodes.isEmpty else {
            throw error(
                "model \"\(id)\" lists no provider; a model no provider serves has no place in the catalogue",
                at: model.offset(of: "providers")
            )
        }
        var offers: [ProviderOffer] = []
        for offerNode in offerNodes {
            let offer = try decodeOffer(offerNode, modelID: id)
            if offers.contains(where: { $0.provider == offer.provider }) {
                throw error("model \"\(id)\" lists provider \"\(offer.provider)\" twice", at: offerNode.offset)
            }
            offers.append(offer)
        }

        let qualityNode = try model.required("quality")
        let quality = try object(qualityNode, context: "model \"\(id)\" quality")
        var scores: [QualityScore?] = Array(repeating: nil, count: TaskType.allCases.count)
        for member in quality.members {
            guard let task = TaskType(rawValue: member.key) else {
                throw error(
                    "model \"\(id)\": unknown task type \"\(member.key)\" in quality (expected one of \(TaskType.names.joined(separator: ", ")))",
                    at: member.keyOffset
                )
            }
            scores[task.index] = try decodeScore(member.value, context: "model \"\(id)\" quality \"\(member.key)\"")
        }
        var complete: [QualityScore] = []
        for task in TaskType.allCases {
            guard let score = scores[task.index] else {
                throw error("model \"\(id)\": no quality score for task type \"\(task)\"", at: qualityNode.offset)
            }
            complete.append(score)
        }
        return CatalogueModel(
            id: id, name: name, contextWindow: Int(contextWindow), reasoning: reasoning, offers: offers, quality: complete)
    }

    private func decodeOffer(_ node: PositionedJSON, modelID: String) throws(CatalogueError) -> ProviderOffer {
        let raw = try object(node, context: "model \"\(modelID)\" provider entry")
        let providerText = try raw.string("provider")
        guard let provider = knownProviders.first(where: { $0.rawValue == providerText }) else {
            throw error(
                "model \"\(modelID)\": unknown provider \"\(providerText)\" (expected one of \(knownProviders.map(\.rawValue).joined(separator: ", ")); a further provider is defined in \"providers\")",
                at: raw.offset(of: "provider")
            )
        }
        let fields = raw.renamed("model \"\(modelID)\" on \(provider)")
        try fields.rejectUnknownKeys([
            "provider", "model", "input_micro_usd_per_mtok", "output_micro_usd_per_mtok",
            "cached_input_micro_usd_per_mtok", "context_window", "ttft_ms", "output_tokens_per_s", "price_source",
            "notes",
        ])
        let ttft = try fields.positiveInteger("ttft_ms")
        guard ttft <= UInt64(UInt32.max) else {
            throw error("model \"\(modelID)\" on \(provider): ttft_ms is too large", at: fields.offset(of: "ttft_ms"))
        }
        return ProviderOffer(
            provider: provider,
            providerModel: try fields.string("model"),
            inputMicroUSDPerMillionTokens: try fields.positiveInteger("input_micro_usd_per_mtok"),
            outputMicroUSDPerMillionTokens: try fields.positiveInteger("output_micro_usd_per_mtok"),
            cachedInputMicroUSDPerMillionTokens: try fields.optionalPositiveInteger("cached_input_micro_usd_per_mtok"),
            contextWindow: try fields.optionalPositiveInteger("context_window").map { Int($0) },
            timeToFirstTokenMs: UInt32(ttft),
            outputTokensPerSecond: try fields.positiveNumber("output_tokens_per_s"),
            priceSource: try fields.string("price_source")
        )
    }

    private func decodeScore(_ node: PositionedJSON, context: String) throws(CatalogueError) -> QualityScore {
        let fields = try object(node, context: context)
        try fields.rejectUnknownKeys(["score", "benchmark", "value", "source", "url", "basis"])
        let score = try fields.positiveNumber("score")
        guard score <= 1 else {
            throw error("\(context): score must be in (0, 1], got \(score)", at: fields.offset(of: "score"))
        }
        let basis = try fields.string("basis")
        guard basis == "published" || basis == "estimate" else {
            throw error(
                "\(context): basis must be \"published\" or \"estimate\", got \"\(basis)\"",
                at: fields.offset(of: "basis")
            )
        }
        var value: Double?
        if let valueNode = fields.optional("value") {
            switch valueNode.value {
            case .null: value = nil
            case .number(let text): value = Double(text)
            default: throw error("\(context): value must be a number or null", at: valueNode.offset)
            }
        }
        return QualityScore(
            score: score,
            benchmark: try fields.string("benchmark"),
            value: value,
            source: try fields.string("source"),
            url: try fields.string("url"),
            basis: basis
        )
    }

    private func object(_ node: PositionedJSON, context: String) throws(CatalogueError) -> ObjectFields {
        guard case .object(let members) = node.value else {
            throw error("\(context) must be an object, found \(node.kindName)", at: node.offset)
        }
        return ObjectFields(decoder: self, node: node, members: members, context: context)
    }

    static func isDate(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return false }
        return bytes.enumerated().allSatisfy { index, byte in
            index == 4 || index == 7 || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
        }
    }

    static func isIdentifier(_ text: String) -> Bool {
        !text.isEmpty
            && text.utf8.allSatisfy { byte in
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                    || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                    || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            }
    }
}

/// The members of one JSON object, with typed accessors whose errors name the object and the key.
private struct ObjectFields {
    let decoder: CatalogueDecoder
    let node: PositionedJSON
    let members: [PositionedJSON.Member]
    let context: String

    func renamed(_ context: String) -> ObjectFields {
        ObjectFields(decoder: decoder, node: node, members: members, context: context)
    }

    /// Where `key`'s value starts, or the object itself when the key is absent.
    func offset(of key: String) -> Int {
        optional(key)?.offset ?? node.offset
    }

    func optional(_ key: String) -> PositionedJSON? {
        members.first { $0.key == key }?.value
    }

    func required(_ key: String) throws(CatalogueError) -> PositionedJSON {
        guard let value = optional(key) else {
            throw decoder.error("\(context): missing \"\(key)\"", at: node.offset)
        }
        return value
    }

    func rejectUnknownKeys(_ allowed: Set<String>) throws(CatalogueError) {
        for member in members where !allowed.contains(member.key) {
            throw decoder.error(
                "\(context): unknown field \"\(member.key)\" (expected \(allowed.sorted().joined(separator: ", ")))",
                at: member.keyOffset
            )
        }
    }

    func string(_ key: String) throws(CatalogueError) -> String {
        let value = try required(key)
        guard case .string(let text) = value.value, !text.isEmpty else {
            throw decoder.error(
                "\(context): \"\(key)\" must be a non-empty string, found \(describe(value))",
                at: value.offset
            )
        }
        return text
    }

    func optionalString(_ key: String) throws(CatalogueError) -> String? {
        guard let value = optional(key) else { return nil }
        guard case .string(let text) = value.value else {
            throw decoder.error("\(context): \"\(key)\" must be a string, found \(value.kindName)", at: value.offset)
        }
        return text
    }

    func optionalBool(_ key: String) throws(CatalogueError) -> Bool? {
        guard let value = optional(key) else { return nil }
        guard case .bool(let flag) = value.value else {
            throw decoder.error("\(context): \"\(key)\" must be true or false, found \(value.kindName)", at: value.offset)
        }
        return flag
    }

    func array(_ key: String) throws(CatalogueError) -> [PositionedJSON] {
        let value = try required(key)
        guard case .array(let elements) = value.value else {
            throw decoder.error("\(context): \"\(key)\" must be an array, found \(value.kindName)", at: value.offset)
        }
        return elements
    }

    func positiveInteger(_ key: String) throws(CatalogueError) -> UInt64 {
        let value = try required(key)
        guard case .number(let text) = value.value, let number = UInt64(text), number > 0 else {
            throw decoder.error(
                "\(context): \"\(key)\" must be a positive integer, found \(describe(value))",
                at: value.offset
            )
        }
        return number
    }

    func optionalPositiveInteger(_ key: String) throws(CatalogueError) -> UInt64? {
        optional(key) == nil ? nil : try positiveInteger(key)
    }

    func positiveNumber(_ key: String) throws(CatalogueError) -> Double {
        let value = try required(key)
        guard case .number(let text) = value.value, let number = Double(text), number > 0, number.isFinite else {
            throw decoder.error(
                "\(context): \"\(key)\" must be a positive number, found \(describe(value))",
                at: value.offset
            )
        }
        return number
    }

    private func describe(_ value: PositionedJSON) -> String {
        switch value.value {
        case .number(let text): text
        case .string(let text): "\"\(text)\""
        default: value.kindName
        }
    }
}
