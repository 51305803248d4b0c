import Crypto
import PelletStore
import PelletWire

/// Who a call comes from, once its credentials are checked.
public enum Caller: Sendable {
    /// An API key of an active account.
    case apiKey(ApiKey, Account)
    /// The holder of the admin token.
    case admin
}

/// Turns a request's credentials into a `Caller`: the first step of every call but Health.
///
/// An API key costs one SHA-256 and one LMDB read transaction (two lookups) on the event loop;
/// the key's last-used time is written at most once a minute, never per call.
public struct Authenticator: Sendable {
    /// One message for unknown, malformed and revoked keys, so callers cannot probe which keys
    /// exist.
    static let invalidKey = RPCError(.unauthenticated, "invalid API key")
    static let keyPrefix = "plt_"

    private let store: Store
    private let adminToken: [UInt8]

    public init(store: Store, adminToken: String) {
        self.store = store
        self.adminToken = Array(adminToken.utf8)
    }

    /// The caller behind an API key (the admin token is not looked at).
    public func apiKeyCaller(_ credentials: Credentials?) throws(RPCError) -> Caller {
        let key = credentials?.apiKey ?? ""
        guard !key.isEmpty else {
            throw RPCError(.unauthenticated, "this call needs an API key in credentials.api_key")
        }
        guard key.hasPrefix(Self.keyPrefix), key.utf8.count <= 128 else { throw Self.invalidKey }
        let found: (key: ApiKey, account: Account)?
        do {
            found = try store.lookupKey(hash: SHA256.hash(data: Array(key.utf8)))
        } catch {
            throw RPCError(storeError: error)
        }
        guard let (record, account) = found, record.revokedUnixMs == 0 else { throw Self.invalidKey }
        switch account.subscriptionStatus {
        case "canceled", "past_due":
            throw RPCError(
                .permissionDenied,
                "the account's subscription is \(account.subscriptionStatus); API calls resume once it is active again"
            )
        default:
            break
        }
        store.touchKey(id: record.id)
        return .apiKey(record, account)
    }

    /// Requires the admin token.
    public func requireAdmin(_ credentials: Credentials?) throws(RPCError) {
        let token = credentials?.adminToken ?? ""
        guard !token.isEmpty else {
            throw RPCError(.permissionDenied, "this operation needs the admin token in credentials.admin_token")
        }
        guard constantTimeEquals(Array(token.utf8), adminToken) else {
            throw RPCError(.permissionDenied, "the admin token is not valid")
        }
    }

    /// The admin if an admin token is given (it must be right), else the API key's caller.
    public func caller(_ credentials: Credentials?) throws(RPCError) -> Caller {
        if let credentials, !credentials.adminToken.isEmpty {
            try requireAdmin(credentials)
            return .admin
        }
        return try apiKeyCaller(credentials)
    }
}

/// Compares in time that depends only on the lengths, so a wrong token's response time does not
/// reveal how many leading bytes were right.
func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
    for index in 0..<max(a.count, b.count) {
        let x = index < a.count ? a[index] : 0
        let y = index < b.count ? b[index] : 0
        difference |= x ^ y
    }
    return difference == 0
}

extension RPCError {
    /// The one mapping from store errors to call statuses.
    public init(storeError error: any Error) {
        guard let error = error as? StoreError else {
            self.init(.internal, "internal error in the store")
            return
        }
        let status: Status =
            switch error.kind {
            case .notFound: .notFound
            case .alreadyExists: .alreadyExists
            case .invalidArgument: .invalidArgument
            case .mapFull: .resourceExhausted
            case .unavailable: .unavailable
            case .dataCorrupted: .dataLoss
            default: .internal
            }
        self.init(status, error.message)
    }
}
