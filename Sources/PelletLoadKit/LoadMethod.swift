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

    public static var choices: String { allCases.map(\.rawValue).joined(separator: "|") }
}
