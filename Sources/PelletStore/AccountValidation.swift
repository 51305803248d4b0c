import PelletWire

/// The rules an account's fields must satisfy. The messages are shown to API callers as the
/// INVALID_ARGUMENT message, so they name the field and the rule.
enum AccountValidation {
    static let plans: Set<String> = ["free", "pro", "team", "enterprise"]
    static let subscriptionStatuses: Set<String> = ["active", "trialing", "past_due", "canceled"]
    static let oauthProviders: Set<String> = ["google", "github"]
    static let maximumNameLength = 200
    static let maximumEmailLength = 254
    static let maximumOAuthSubjectLength = 255
    static let maximumAvatarURLLength = 2048

    /// A new account with defaults filled in, or the first rule it breaks.
    static func validatedForCreate(_ account: Account) throws -> Account {
        var account = account
        if account.plan.isEmpty { account.plan = "free" }
        if account.subscriptionStatus.isEmpty { account.subscriptionStatus = "active" }
        try validateEmail(account.email)
        try validateName(account.name)
        try validateFields(of: account)
        try validateOAuthPair(of: account)
        return account
    }

    /// Checks the fields an update sets (non-empty / non-zero ones); the others are kept.
    static func validateUpdate(_ changes: Account) throws {
        guard !changes.id.isEmpty else {
            throw StoreError.invalidArgument("an account update needs the id of the account")
        }
        if !changes.email.isEmpty { try validateEmail(changes.email) }
        if !changes.name.isEmpty { try validateName(changes.name) }
        try validateFields(of: changes)
    }

    /// The OAuth identity must be whole once an update is merged in.
    static func validateOAuthPair(of account: Account) throws {
        if account.oauthProvider.isEmpty != account.oauthSubject.isEmpty {
            throw StoreError.invalidArgument("oauth_provider and oauth_subject must be given together")
        }
    }

    /// The index key of an email: addresses are matched case-insensitively.
    static func emailKey(_ email: String) -> String {
        email.lowercased()
    }

    /// The index key of an OAuth identity, or nil when the account has none.
    static func oauthKey(_ account: Account) -> String? {
        guard !account.oauthProvider.isEmpty, !account.oauthSubject.isEmpty else { return nil }
        return account.oauthProvider + ":" + account.oauthSubject
    }

    private static func validateEmail(_ email: String) throws {
        guard email.utf8.count <= maximumEmailLength else {
            throw StoreError.invalidArgument("email must be at most \(maximumEmailLength) bytes")
        }
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        let plausible =
            parts.count == 2
            && !parts[0].isEmpty
            && parts[1].contains(".")
            && !parts[1].hasPrefix(".") && !parts[1].hasSuffix(".")
            && !email.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } == true })
        guard plausible else {
            throw StoreError.invalidArgument("email \"\(email)\" is not an address of the form name@domain.tld")
        }
    }

    private static func validateName(_ name: String) throws {
        guard !name.allSatisfy(\.isWhitespace) else {
            throw StoreError.invalidArgument("name must not be empty")
        }
        guard name.count <= maximumNameLength else {
            throw StoreError.invalidArgument("name must be at most \(maximumNameLength) characters")
        }
    }

    /// The fields whose empty value means "not given" on update and "default" on create.
    private static func validateFields(of account: Account) throws {
        if !account.plan.isEmpty, !plans.contains(account.plan) {
            throw StoreError.invalidArgument(
                "plan \"\(account.plan)\" is not one of \(plans.sorted().joined(separator: ", "))"
            )
        }
        if !account.subscriptionStatus.isEmpty, !subscriptionStatuses.contains(account.subscriptionStatus) {
            throw StoreError.invalidArgument(
                "subscription_status \"\(account.subscriptionStatus)\" is not one of "
                    + subscriptionStatuses.sorted().joined(separator: ", ")
            )
        }
        if !account.oauthProvider.isEmpty, !oauthProviders.contains(account.oauthProvider) {
            throw StoreError.invalidArgument(
                "oauth_provider \"\(account.oauthProvider)\" is not one of "
                    + oauthProviders.sorted().joined(separator: ", ")
            )
        }
        if account.oauthSubject.utf8.count > maximumOAuthSubjectLength {
            throw StoreError.invalidArgument("oauth_subject must be at most \(maximumOAuthSubjectLength) bytes")
        }
        if account.avatarUrl.utf8.count > maximumAvatarURLLength {
            throw StoreError.invalidArgument("avatar_url must be at most \(maximumAvatarURLLength) bytes")
        }
    }
}
