import PelletWire

/// The account records and their two unique indexes (email, OAuth identity).
struct AccountsTable: AccountScopedTable {
    let tables: CoreTables

    var exportName: String { "account" }

    func deleteAll(accountID: String, in transaction: WriteTransaction) throws {
        guard let account = try transaction.message(Account.self, tables.accounts, key: accountID) else { return }
        try deleteIndexes(of: account, in: transaction)
        try transaction.delete(tables.accounts, key: accountID)
    }

    func export(accountID: String, in transaction: ReadTransaction) throws -> JSONValue {
        try transaction.message(Account.self, tables.accounts, key: accountID)?.exportJSON ?? .null
    }

    /// Removes the index entries that point at `account` (and only those: an entry pointing at
    /// another account is that account's).
    func deleteIndexes(of account: Account, in transaction: WriteTransaction) throws {
        let emailKey = AccountValidation.emailKey(account.email)
        if try transaction.string(tables.accountsByEmail, key: emailKey) == account.id {
            try transaction.delete(tables.accountsByEmail, key: emailKey)
        }
        if let oauthKey = AccountValidation.oauthKey(account),
            try transaction.string(tables.accountsByOAuth, key: oauthKey) == account.id
        {
            try transaction.delete(tables.accountsByOAuth, key: oauthKey)
        }
    }

    /// Adds the index entries of `account`, refusing an email or OAuth identity that belongs to
    /// another account (unless `replacingOthers`: a cluster's database already decided).
    func insertIndexes(of account: Account, in transaction: WriteTransaction, replacingOthers: Bool = false) throws {
        let emailKey = AccountValidation.emailKey(account.email)
        if !replacingOthers, let owner = try transaction.string(tables.accountsByEmail, key: emailKey), owner != account.id {
            throw StoreError.alreadyExists("an account with email \(account.email) already exists")
        }
        if !replacingOthers, let oauthKey = AccountValidation.oauthKey(account),
            let owner = try transaction.string(tables.accountsByOAuth, key: oauthKey), owner != account.id
        {
            throw StoreError.alreadyExists(
                "an account with \(account.oauthProvider) identity \(account.oauthSubject) already exists"
            )
        }
        try transaction.put(tables.accountsByEmail, key: emailKey, value: account.id)
        if let oauthKey = AccountValidation.oauthKey(account) {
            try transaction.put(tables.accountsByOAuth, key: oauthKey, value: account.id)
        }
    }
}

extension Store {
    static let defaultListLimit = 50
    static let maximumListLimit = 1000

    /// Creates an account: assigns its id and creation time, fills in the default plan ("free")
    /// and status ("active"). Fails with `.invalidArgument` for a field that breaks a rule and
    /// `.alreadyExists` for an email (case-insensitive) or OAuth identity already in use.
    public func createAccount(_ account: Account) async throws -> Account {
        var candidate = try AccountValidation.validatedForCreate(account)
        candidate.createdUnixMs = configuration.now()
        let proposal = candidate
        let accounts = AccountsTable(tables: tables)
        return try await write { transaction in
            var record = proposal
            repeat {
                record.id = RandomIdentifier.accountID()
            } while try transaction.contains(accounts.tables.accounts, key: record.id)
            try accounts.insertIndexes(of: record, in: transaction)
            try transaction.put(accounts.tables.accounts, key: record.id, message: record)
            return record
        }
    }

    /// The account with this id, or nil.
    public func account(id: String) throws -> Account? {
        let tables = self.tables
        return try read { try $0.message(Account.self, tables.accounts, key: id) }
    }

    /// The account with this email (compared case-insensitively), or nil.
    public func account(email: String) throws -> Account? {
        let tables = self.tables
        return try read { transaction in
            guard let id = try transaction.string(tables.accountsByEmail, key: AccountValidation.emailKey(email))
            else { return nil }
            return try transaction.message(Account.self, tables.accounts, key: id)
        }
    }

    /// Changes the account `changes.id`: every non-empty (non-zero) field of `changes` replaces
    /// the stored one, the others are kept; the id and creation time never change. Fails with
    /// `.notFound` for an unknown id and `.alreadyExists` for an email or OAuth identity of
    /// another account. Returns the stored result.
    public func updateAccount(_ changes: Account) async throws -> Account {
        try AccountValidation.validateUpdate(changes)
        let accounts = AccountsTable(tables: tables)
        return try await write { transaction in
            guard let current = try transaction.message(Account.self, accounts.tables.accounts, key: changes.id) else {
                throw StoreError.notFound("no account has id \(changes.id)")
            }
            var updated = current
            updated.merge(changes)
            try AccountValidation.validateOAuthPair(of: updated)
            try accounts.deleteIndexes(of: current, in: transaction)
            try accounts.insertIndexes(of: updated, in: transaction)
            try transaction.put(accounts.tables.accounts, key: updated.id, message: updated)
            return updated
        }
    }

    /// Deletes the account and everything held for it, in every registered table (its keys,
    /// and e.g. usage counters and request records), in one transaction. Returns the account as
    /// it was. Fails with `.notFound` for an unknown id.
    @discardableResult
    public func deleteAccount(id: String) async throws -> Account {
        let scopedTables = registry.all
        let tables = self.tables
        let (account, keyIDs) = try await write { transaction in
            guard let account = try transaction.message(Account.self, tables.accounts, key: id) else {
                throw StoreError.notFound("no account has id \(id)")
            }
            let keyIDs = try KeysTable(tables: tables).keyIDs(of: id, in: transaction.reader)
            // Reverse registration order: tables registered later (and possibly pointing at
            // earlier ones) go first; the account record, registered first, goes last.
            for table in scopedTables.reversed() {
                try table.deleteAll(accountID: id, in: transaction)
            }
            return (account, keyIDs)
        }
        keyTouches.withLock { touches in
            for keyID in keyIDs { touches[keyID] = nil }
        }
        return account
    }

    /// Accounts in id order after `cursor` (the last id of the previous page; "" for the first
    /// page). `limit` 0 means 50; at most 1000. `nextCursor` is "" on the last page.
    public func listAccounts(cursor: String = "", limit: Int = 0) throws -> (accounts: [Account], nextCursor: String) {
        let limit = limit <= 0 ? Self.defaultListLimit : min(limit, Self.maximumListLimit)
        let tables = self.tables
        return try read { transaction in
            var accounts: [Account] = []
            var more = false
            try transaction.scan(tables.accounts, from: cursor) { key, value in
                // The cursor names the last account already returned: skip it.
                if !cursor.isEmpty, key.elementsEqual(cursor.utf8) { return true }
                guard accounts.count < limit else {
                    more = true
                    return false
                }
                do {
                    accounts.append(try Account(decoding: value))
                } catch {
                    throw StoreError.corruptRecord(table: tables.accounts.name, error)
                }
                return true
            }
            return (accounts, more ? accounts.last?.id ?? "" : "")
        }
    }
}

extension Account {
    /// Applies an update: non-empty and non-zero fields of `changes` replace this account's.
    mutating func merge(_ changes: Account) {
        if !changes.name.isEmpty { name = changes.name }
        if !changes.email.isEmpty { email = changes.email }
        if !changes.avatarUrl.isEmpty { avatarUrl = changes.avatarUrl }
        if !changes.oauthProvider.isEmpty { oauthProvider = changes.oauthProvider }
        if !changes.oauthSubject.isEmpty { oauthSubject = changes.oauthSubject }
        if !changes.plan.isEmpty { plan = changes.plan }
        if !changes.subscriptionStatus.isEmpty { subscriptionStatus = changes.subscriptionStatus }
        if changes.monthlyBudgetMicroUsd != 0 { monthlyBudgetMicroUsd = changes.monthlyBudgetMicroUsd }
        if changes.rateLimitRpm != 0 { rateLimitRpm = changes.rateLimitRpm }
    }

    /// The account in an export, with the schema's field names.
    var exportJSON: JSONValue {
        [
            "id": .string(id),
            "name": .string(name),
            "email": .string(email),
            "avatar_url": .string(avatarUrl),
            "oauth_provider": .string(oauthProvider),
            "oauth_subject": .string(oauthSubject),
            "plan": .string(plan),
            "subscription_status": .string(subscriptionStatus),
            "monthly_budget_micro_usd": .uint(monthlyBudgetMicroUsd),
            "rate_limit_rpm": .uint(UInt64(rateLimitRpm)),
            "created_unix_ms": .uint(createdUnixMs),
        ]
    }
}
