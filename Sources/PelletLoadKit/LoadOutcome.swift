import PelletWire

/// How one call ended, as the report counts it.
public enum LoadOutcome: Sendable, Hashable, CustomStringConvertible {
    /// A Pellet status (OK included). An HTTP 2xx answer also counts as OK.
    case status(Status)
    /// An HTTP answer other than 2xx: "HTTP_500".
    case httpStatus(Int)
    /// No answer: the connection could not be made, or it closed or failed under the call.
    case transportError

    public static let ok = LoadOutcome.status(.ok)

    public var isOK: Bool { self == .ok }

    /// The report's name: "OK", "UNAVAILABLE", "HTTP_503", "TRANSPORT_ERROR".
    public var description: String {
        switch self {
        case .status(let status): status.name
        case .httpStatus(let code): "HTTP_\(code)"
        case .transportError: "TRANSPORT_ERROR"
        }
    }
}

/// What a driver hands back for one call.
public struct CallResult: Sendable, Equatable {
    public var outcome: LoadOutcome
    /// When the first streamed chunk (a non-empty delta) arrived, on the run's clock; nil for
    /// calls that are not streamed or saw none.
    public var firstChunkAt: UInt64?

    public init(_ outcome: LoadOutcome, firstChunkAt: UInt64? = nil) {
        self.outcome = outcome
        self.firstChunkAt = firstChunkAt
    }
}
