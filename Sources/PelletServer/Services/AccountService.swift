import NIOCore
import NIOPosix
import PelletStore
import PelletWire

/// Method 4: accounts and API keys. Every operation needs the admin token except `get = ""`
/// with an API key, which returns the key's own account.
///
/// Short reads answer on the event loop (one LMDB read transaction); exports, which scan every
/// row of the account and encode it as JSON, run on a thread pool for blocking work; writes go
/// through the store's writer thread and answer when their group commit is durable.
public struct AccountService: Service {
    private let store: Store
    /// Account and key changes: the store, or the cluster's database in cluster mode.
    private let writes: any AccountWrites
    private let metering: Metering
    private let authenticator: Authenticator
    private let compaction: CompactionScheduler?
    /// Runs `reload_catalogue`; nil: this server does not reload (FAILED_PRECONDITION).
    private let reloader: CatalogueReloader?
    private let threadPool: NIOThreadPool

    /// The largest export the one-reply `export` op returns: the protocol's default frame limit.
    public static let maximumExportReplyBytes = 4 << 20

    /// `metering` is the store's: a deleted account's budget state is dropped from it.
    /// `compaction`, when given, hears of each deletion, so that the account's bytes leave the
    /// data file at its next automatic compaction. `threadPool` runs exports; it must be
    /// started and outlive the server (the process-wide singleton is).
    public init(
        store: Store,
        metering: Metering,
        authenticator: Authenticator,
        compaction: CompactionScheduler? = nil,
        reloader: CatalogueReloader? = nil,
        writes: (any AccountWrites)? = nil,
        threadPool: NIOThreadPool = .singleton
    ) {
        self.reloader = reloader
        self.store = store
        self.writes = writes ?? store
        self.metering = metering
        self.authenticator = authenticator
        self.compaction = compaction
        self.threadPool = threadPool
    }

    public func handle(_ payload: ByteBuffer, context: CallContext) -> CallOutcome {
        do {
            let request = try AccountRequest(decoding: payload)
            guard let op = request.op else {
                throw RPCError(.invalidArgument, "AccountRequest sets no operation; set one of create, get, get_by_email, update, delete, create_key, revoke_key, list_keys, list, export, compact, export_account, reload_catalogue")
            }
            if case .get(let id) = op, id.isEmpty {
                return .reply(try ownAccount(request.credentials, context: context))
            }
            try authenticator.requireAdmin(request.credentials)
            return try perform(op, context: context)
        } catch let error as MessageDecodingError {
            return .failure(RPCError(.invalidArgument, "Account request: \(error.description)"))
        } catch let error as RPCError {
            return .failure(error)
        } catch {
            return .failure(RPCError(storeError: error))
        }
    }

    private func ownAccount(_ credentials: Credentials?, context: CallContext) throws(RPCError) -> AccountResponse {
        let caller = try authenticator.caller(credentials)
        context.annotations?.describe(caller)
        switch caller {
        case .apiKey(_, let account):
            return AccountResponse(account: account)
        case .admin:
            throw RPCError(.invalidArgument, "get needs an account id; an empty id means the API key's own account, and the admin token has none")
        }
    }

    private func perform(_ op: AccountRequest.Op, context: CallContext) throws -> CallOutcome {
        let loop = context.eventLoop
        let store = self.store
        let writes = self.writes
        let metering = self.metering
        let compaction = self.compaction
        switch op {
        case .get(let id):
            guard let account = try store.account(id: id) else { throw RPCError(.notFound, "no account has id \(id)") }
            return .reply(AccountResponse(account: account))
        case .getByEmail(let email):
            guard let account = try store.account(email: email) else { throw RPCError(.notFound, "no account has email \(email)") }
            return .reply(AccountResponse(account: account))
        case .list(let page):
            let (accounts, next) = try store.listAccounts(cursor: page.cursor, limit: Int(page.limit))
            return .reply(AccountResponse(accounts: accounts, nextCursor: next))
        case .listKeys(let accountID):
            guard try store.account(id: accountID) != nil else { throw RPCError(.notFound, "no account has id \(accountID)") }
            return .reply(AccountResponse(keys: try store.listKeys(accountID: accountID)))
        case .export(let accountID):
            return threadPool.answer(context) {
                let json = try store.exportAccount(id: accountID)
                guard json.count <= Self.maximumExportReplyBytes else {
                    throw RPCError(.resourceExhausted, "the export of account \(accountID) is \(json.count) bytes, over one reply's limit of \(Self.maximumExportReplyBytes); page it with export_account (pelletctl account export does)")
                }
                return AccountResponse(exportJson: json)
            }
        case .exportAccount(let page):
            return threadPool.answer(context) {
                let (json, next) = try store.exportAccountPage(id: page.accountId, cursor: page.cursor, limit: Int(page.limit))
                return AccountResponse(nextCursor: next, exportJson: json)
            }
        case .create(let account):
            return Self.whenWritten(on: loop) { AccountResponse(account: try await writes.createAccount(account)) }
        case .update(let changes):
            guard !changes.id.isEmpty else { throw RPCError(.invalidArgument, "update needs the account's id") }
            return Self.whenWritten(on: loop) { AccountResponse(account: try await writes.updateAccount(changes)) }
        case .delete(let accountID):
            return Self.whenWritten(on: loop) {
                let deleted = try await writes.deleteAccount(id: accountID)
                // The usage rows went with the account in the same transaction; its budget
                // holds and cached month-to-date spend live in memory.
                metering.forgetAccount(id: accountID)
                compaction?.deletionHappened()
                return AccountResponse(account: deleted)
            }
        case .createKey(let request):
            return Self.whenWritten(on: loop) {
                let (plaintext, record) = try await writes.createKey(accountID: request.accountId, name: request.name)
                return AccountResponse(keys: [record], apiKey: plaintext)
            }
        case .revokeKey(let keyID):
            return Self.whenWritten(on: loop) { AccountResponse(keys: [try await writes.revokeKey(id: keyID)]) }
        case .reloadCatalogue:
            guard let reloader else {
                throw RPCError(.failedPrecondition, "this server has no catalogue to reload")
            }
            // Reading the files is disk I/O: off the event loop.
            return threadPool.answer(context) {
                AccountResponse(catalogueReload: try reloader.reload(trigger: "pelletctl catalogue reload").get())
            }
        case .compact:
            // Writes are held while it runs (milliseconds to seconds with the file's size);
            // the answer comes from a task, never from the event loop.
            return Self.whenWritten(on: loop) { AccountResponse(compaction: try await store.compact()) }
        }
    }

    /// Runs a store write and answers the call when it is durable.
    private static func whenWritten(
        on loop: any EventLoop,
        _ body: @escaping @Sendable () async throws -> AccountResponse
    ) -> CallOutcome {
        let promise = loop.makePromise(of: (any WireMessage).self)
        promise.completeWithTask {
            do {
                return try await body()
            } catch let error as RPCError {
                throw error
            } catch {
                throw RPCError(storeError: error)
            }
        }
        return .pending(promise.futureResult)
    }
}
