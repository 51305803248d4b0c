/// A call's outcome: gRPC's status numbers, as DESIGN.md section 2 fixes them.
public enum Status: UInt32, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case ok = 0
    case cancelled = 1
    case unknown = 2
    case invalidArgument = 3
    case deadlineExceeded = 4
    case notFound = 5
    case alreadyExists = 6
    case permissionDenied = 7
    case resourceExhausted = 8
    case failedPrecondition = 9
    case aborted = 10
    case outOfRange = 11
    case unimplemented = 12
    case `internal` = 13
    case unavailable = 14
    case dataLoss = 15
    case unauthenticated = 16

    /// A status number from the wire; numbers this version does not know read as UNKNOWN.
    public init(wireValue: UInt32) {
        self = Status(rawValue: wireValue) ?? .unknown
    }

    /// The canonical upper-case name, as printed by pelletctl and in logs: "INVALID_ARGUMENT".
    public var name: String {
        switch self {
        case .ok: "OK"
        case .cancelled: "CANCELLED"
        case .unknown: "UNKNOWN"
        case .invalidArgument: "INVALID_ARGUMENT"
        case .deadlineExceeded: "DEADLINE_EXCEEDED"
        case .notFound: "NOT_FOUND"
        case .alreadyExists: "ALREADY_EXISTS"
        case .permissionDenied: "PERMISSION_DENIED"
        case .resourceExhausted: "RESOURCE_EXHAUSTED"
        case .failedPrecondition: "FAILED_PRECONDITION"
        case .aborted: "ABORTED"
        case .outOfRange: "OUT_OF_RANGE"
        case .unimplemented: "UNIMPLEMENTED"
        case .internal: "INTERNAL"
        case .unavailable: "UNAVAILABLE"
        case .dataLoss: "DATA_LOSS"
        case .unauthenticated: "UNAUTHENTICATED"
        }
    }

    public var description: String { name }
}

/// A failed call or connection as the protocol reports it: a status and a readable message.
///
/// Servers throw it from call handlers; clients receive it from `Error` payloads.
public struct RPCError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Status
    public var message: String
    /// With RESOURCE_EXHAUSTED: when the caller may try again (0 = not known).
    public var retryAfterMs: UInt32

    public init(_ status: Status, _ message: String, retryAfterMs: UInt32 = 0) {
        self.status = status
        self.message = message
        self.retryAfterMs = retryAfterMs
    }

    public init(payload: ErrorPayload, frameStatus: UInt32) {
        // The frame's value is authoritative; the payload repeats it for convenience.
        self.init(Status(wireValue: frameStatus), payload.message, retryAfterMs: payload.retryAfterMs)
    }

    public var payload: ErrorPayload {
        ErrorPayload(code: status.rawValue, message: message, retryAfterMs: retryAfterMs)
    }

    public var description: String { "\(status.name): \(message)" }
}
