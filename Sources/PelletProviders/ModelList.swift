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
        do {
            return try JSONReader.read(body) { reader throws(JSONReader.Failure) in
                switch try reader.nextValueKind() {
                case .array:
                    return try readItems(&reader)
                case .object:
                    var ids: Set<String>?
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

    private static func readItems(_ reader: inout JSONReader) throws(JSONReader.Failure) -> Set<String> {
        var ids: Set<String> = []
        try reader.beginArray()
        while try reader.nextElement() {
            guard try reader.nextValueKind() == .object else {
                try reader.skipValue()
                continue
            }
            try reader.beginObject()
            while let key = try reader.nextKey() {
                if case "id" = key, try reader.nextValueKind() == .string {
                    ids.insert(try reader.readString())
                } else {
                    try reader.skipValue()
                }
            }
        }
        return ids
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
