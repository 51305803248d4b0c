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
    /// The SHA-256 of the admin token: see ``constantTimeEquals(_:_:)``. Bytes rather than a
    /// `SHA256.Digest`, which is not Sendable.
    private let adminTokenDigest: [UInt8]

    public init(store: Store, adminToken: String) {
        self.store = store
        self.adminTokenDigest = Array(SHA256.hash(data: Array(adminToken.utf8)))
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
        guard constantTimeEquals(Array(SHA256.hash(data: Array(token.utf8))), adminTokenDigest) else {
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

/// Compares two SHA-256 digests in time that depends on neither's content.
///
/// Tokens are compared by their digests: both are 32 bytes whatever the tokens' lengths, so no
/// length difference has to be folded into the result (folding it into a byte once let the
/// token followed by 256 NUL bytes pass), and the time taken reveals neither how many leading
/// bytes were right nor the token's length.
func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    // Digests of one hash always have the same length; this only guards the loop.
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices {
        difference |= a[index] ^ b[index]
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
