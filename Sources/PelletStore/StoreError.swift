import CLMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An error from the store.
///
/// A struct over a private enum (like hummingbird's `PersistError`) so that cases can be added
/// without breaking callers; callers branch on ``kind`` and show ``description``.
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, coarsely: the server maps each kind to one RPC status.
    ///
    /// Suggested mapping: `notFound` → NOT_FOUND, `alreadyExists` → ALREADY_EXISTS,
    /// `invalidArgument` → INVALID_ARGUMENT, `mapFull` → RESOURCE_EXHAUSTED,
    /// `unavailable` → UNAVAILABLE, `dataCorrupted` → DATA_LOSS, `io` (and anything else) → INTERNAL.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case notFound, alreadyExists, invalidArgument, mapFull, unavailable, dataCorrupted, io
        }

        private let base: Base

        /// The record asked for does not exist.
        public static let notFound = Kind(base: .notFound)
        /// A record with the same unique key (id, email, OAuth identity) already exists.
        public static let alreadyExists = Kind(base: .alreadyExists)
        /// The caller's input was refused; ``StoreError/message`` says why.
        public static let invalidArgument = Kind(base: .invalidArgument)
        /// The LMDB map is full; the write was rolled back and the data is intact.
        public static let mapFull = Kind(base: .mapFull)
        /// The store is closed, or out of reader slots.
        public static let unavailable = Kind(base: .unavailable)
        /// The data file or a stored record is not what the store wrote.
        public static let dataCorrupted = Kind(base: .dataCorrupted)
        /// Any other failure of LMDB or the operating system.
        public static let io = Kind(base: .io)

        public var description: String { "\(base)" }
    }

    public let kind: Kind
    /// A sentence for an operator or API caller.
    public let message: String

    public var description: String { message }

    init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    static func notFound(_ message: String) -> StoreError { StoreError(kind: .notFound, message: message) }
    static func alreadyExists(_ message: String) -> StoreError { StoreError(kind: .alreadyExists, message: message) }
    static func invalidArgument(_ message: String) -> StoreError {
        StoreError(kind: .invalidArgument, message: message)
    }
    static let closed = StoreError(kind: .unavailable, message: "the store is closed")

    static func corruptRecord(table: String, _ detail: any Error) -> StoreError {
        StoreError(kind: .dataCorrupted, message: "a record in the \(table) table does not decode: \(detail)")
    }

    /// The one mapping from an LMDB (or errno) return code to a Swift error. `context` names
    /// what was being done, so the message reads "cannot open the data directory /x: ...".
    init(code: Int32, context: String? = nil) {
        let reason = String(cString: mdb_strerror(code))
        let kind: Kind
        var message = context.map { "\($0): \(reason)" } ?? reason
        switch code {
        case MDB_NOTFOUND:
            kind = .notFound
        case MDB_KEYEXIST:
            kind = .alreadyExists
        case MDB_MAP_FULL:
            kind = .mapFull
            message =
                "the store is full: the LMDB map size was reached. The write was rolled back and the "
                + "data is intact. Restart pelletd with a larger --map-size (a sparse reservation: a "
                + "generous value costs no disk until used); a full map cannot even delete, so "
                + "lowering --retention-days helps only once there is room again."
        case MDB_READERS_FULL:
            kind = .unavailable
            message += " (raise the maximum number of readers)"
        case MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_INVALID, MDB_VERSION_MISMATCH, MDB_PANIC:
            kind = .dataCorrupted
        case EINVAL, MDB_BAD_VALSIZE:
            kind = .invalidArgument
        default:
            kind = .io
        }
        self.init(kind: kind, message: message)
    }

    /// The data directory could not be created or opened; `errno` says why.
    static func dataDirectory(_ path: String, errno code: Int32) -> StoreError {
        let reason = String(cString: strerror(code)).lowercased()
        return StoreError(kind: .io, message: "cannot open the data directory \(path): \(reason)")
    }
}

/// Turns an LMDB return code into a thrown ``StoreError``. Every LMDB call goes through here or
/// through ``StoreError/init(code:context:)`` directly.
@inline(__always)
func check(_ code: Int32, _ context: @autoclosure () -> String? = nil) throws {
    if code != MDB_SUCCESS {
        throw StoreError(code: code, context: context())
    }
}
