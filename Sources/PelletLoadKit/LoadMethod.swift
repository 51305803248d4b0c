import PelletWire

/// What each call of a run does.
public enum LoadMethod: String, Sendable, CaseIterable, CustomStringConvertible {
    case route
    case complete
    case completeStream = "complete-stream"
    case usage
    case health
    /// A PING frame answered by a PONG: the protocol's floor, no service involved.
    case ping

    public var description: String { rawValue }

    /// Route, Complete and Usage authenticate the caller; Health and PING do not.
    public var needsAPIKey: Bool {
        switch self {
        case .route, .complete, .completeStream, .usage: true
        case .health, .ping: false
        }
    }

    /// The methods an OpenAI-compatible provider can serve directly: only the completions.
    public var isAvailableOverHTTP: Bool {
        switch self {
        case .complete, .completeStream: true
        case .route, .usage, .health, .ping: false
        }
    }

    public var isStreamed: Bool { self == .completeStream }

    /// The lean client's methods: the unary calls (a PING has no stream to answer on, and a
    /// stream's first chunk is the NIO client's to time).
    public var isUnary: Bool {
        switch self {
        case .route, .complete, .usage, .health: true
        case .completeStream, .ping: false
        }
    }

    /// The wire method of a unary call (Complete for the streamed one; PING has none).
    var wireMethod: PelletWire.Method {
        switch self {
        case .route: .route
        case .complete, .completeStream, .ping: .complete
        case .usage: .usage
        case .health: .health
        }
    }

    public static var choices: String { allCases.map(\.rawValue).joined(separator: "|") }
}
