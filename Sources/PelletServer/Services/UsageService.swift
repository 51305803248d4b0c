import NIOCore
import NIOPosix
import PelletStore
import PelletWire

/// Method 3: an account's totals, grouped rows and request records over a range of days.
///
/// An API key sees its own account (naming another is PERMISSION_DENIED); the admin token must
/// name the account. Authentication is one short read on the event loop, but the query is not:
/// 90 days of counters grouped by everything, or a page of 1,000 records, take milliseconds
/// and may fault pages in from disk, so it runs on a thread pool made for blocking work and
/// answers `.pending`.
public struct UsageService: Service {
    private let metering: Metering
    private let authenticator: Authenticator
    private let threadPool: NIOThreadPool
    /// Cluster mode: the cluster's database answers instead of this node's metering.
    private let reads: (any UsageReads)?

    /// `threadPool` must be started and outlive the server; the process-wide singleton is.
    public init(
        metering: Metering, authenticator: Authenticator, threadPool: NIOThreadPool = .singleton,
        reads: (any UsageReads)? = nil
    ) {
        self.metering = metering
        self.authenticator = authenticator
        self.threadPool = threadPool
        self.reads = reads
    }

    public func handle(_ payload: ByteBuffer, context: CallContext) -> CallOutcome {
        let request: UsageRequest
        let accountID: String
        do {
            request = try UsageRequest(decoding: payload)
        } catch {
            return .failure(RPCError(.invalidArgument, "Usage request: \(error.description)"))
        }
        do {
            accountID = try account(of: request, context: context)
        } catch {
            return .failure(error)
        }
        if let reads {
            let promise = context.eventLoop.makePromise(of: (any WireMessage).self)
            promise.completeWithTask {
                do {
                    return try await reads.usage(request, accountID: accountID)
                } catch let error as RPCError {
                    throw error
                } catch {
                    throw RPCError(storeError: error)
                }
            }
            return .pending(promise.futureResult)
        }
        let metering = self.metering
        return threadPool.answer(context) { try metering.usage(request, accountID: accountID) }
    }

    /// The account whose usage the caller may see: an API key's own, or the one the admin names.
    private func account(of request: UsageRequest, context: CallContext) throws(RPCError) -> String {
        let caller = try authenticator.caller(request.credentials)
        context.annotations?.describe(caller)
        switch caller {
        case .apiKey(_, let account):
            guard request.accountId.isEmpty || request.accountId == account.id else {
                throw RPCError(
                    .permissionDenied,
                    "an API key sees only its own account's usage; another account's needs the admin token"
                )
            }
            return account.id
        case .admin:
            guard !request.accountId.isEmpty else {
                throw RPCError(
                    .invalidArgument,
                    "Usage with the admin token needs account_id; an empty one means the API key's own account"
                )
            }
            return request.accountId
        }
    }
}
