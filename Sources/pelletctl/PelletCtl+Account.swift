import ArgumentParser
import Foundation
import PelletClient
import PelletWire

extension PelletCtl {
    /// Named `AccountCommand` so that `Account` keeps meaning the wire message inside pelletctl.
    struct AccountCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "account",
            abstract: "Create, show, list, change, delete and export accounts (needs the admin token).",
            subcommands: [Create.self, Get.self, List.self, Update.self, Delete.self, Export.self]
        )
    }
}

extension PelletCtl.AccountCommand {
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an account and print it.")

        @OptionGroup var options: ConnectionOptions

        @Option(help: "The account holder's name, at most 200 characters.")
        var name: String

        @Option(help: "The email address; one account per address, compared case-insensitively.")
        var email: String

        @Option(help: "The billing plan, one the server knows. (default: free)")
        var plan: String?

        @Option(help: AccountFields.oauthHelp)
        var oauth: String?

        @Option(help: ArgumentHelp("The URL of the account's picture.", valueName: "url"))
        var avatar: String?

        @Option(
            help: ArgumentHelp("The monthly spend limit in US dollars, e.g. 12.50; 0 = no limit.", valueName: "usd")
        )
        var budgetUsd: String?

        @Option(help: ArgumentHelp("The limit of requests per minute; 0 = no limit.", valueName: "n"))
        var rateLimitRpm: Int?

        func validate() throws {
            guard !name.allSatisfy(\.isWhitespace) else { throw ValidationError("--name may not be empty") }
            guard !email.isEmpty else { throw ValidationError("--email may not be empty") }
            _ = try account()
        }

        func run() async throws {
            let account = try account()
            let response = try await options.accountCall(.create(account))
            try AccountFields.show(try response.requireAccount(), options)
        }

        private func account() throws -> Account {
            var account = Account(name: name, email: email, avatarUrl: avatar ?? "", plan: plan ?? "")
            if let oauth { (account.oauthProvider, account.oauthSubject) = try AccountFields.oauth(oauth) }
            if let budgetUsd {
                account.monthlyBudgetMicroUsd = try AccountFields.microUSD(budgetUsd, option: "--budget-usd")
            }
            if let rateLimitRpm { account.rateLimitRpm = try AccountFields.rateLimit(rateLimitRpm) }
            return account
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one account, by id or by email.")

        @OptionGroup var options: ConnectionOptions

        @Argument(help: "The account's id (acc_...).")
        var id: String?

        @Option(help: "Find the account by its email address instead.")
        var email: String?

        func validate() throws {
            switch (id, email) {
            case (nil, nil): throw ValidationError("give an account id or --email")
            case (.some, .some): throw ValidationError("give an account id or --email, not both")
            case (.some(let id), nil) where id.isEmpty: throw ValidationError("the account id may not be empty")
            case (nil, .some(let email)) where email.isEmpty: throw ValidationError("--email may not be empty")
            default: break
            }
        }

        func run() async throws {
            let op: AccountRequest.Op = if let email { .getByEmail(email) } else { .get(id ?? "") }
            try AccountFields.show(try await options.accountCall(op).requireAccount(), options)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List accounts in id order, a page at a time.")

        static let maximumLimit = 1_000

        @OptionGroup var options: ConnectionOptions

        @Option(help: "Accounts per page, 1 to \(Self.maximumLimit). (default: the server's, 50)")
        var limit: Int?

        @Option(help: "Start after this account id: the cursor printed with the previous page.")
        var cursor: String?

        @Flag(help: "Follow the cursor to the last page.")
        var all = false

        func validate() throws {
            if let limit, !(1...Self.maximumLimit).contains(limit) {
                throw ValidationError("--limit must be from 1 to \(Self.maximumLimit), not \(limit)")
            }
        }

        func run() async throws {
            let pageSize = UInt32(limit ?? (all ? Self.maximumLimit : 0))
            let (accounts, nextCursor) = try await options.withClient { client throws(RPCError) in
                var accounts: [Account] = []
                var cursor = self.cursor ?? ""
                repeat {
                    let page = try await client.account(
                        AccountRequest(
                            credentials: options.adminCredentials(),
                            op: .list(ListAccounts(cursor: cursor, limit: pageSize))
                        ),
                        timeout: options.timeout
                    )
                    accounts += page.accounts
                    cursor = page.nextCursor
                } while all && !cursor.isEmpty
                return (accounts, cursor)
            }
            if options.json {
                try Output.printJSON(AccountPage(accounts: accounts.map(AccountJSON.init), nextCursor: nextCursor))
                return
            }
            if accounts.isEmpty {
                print("no accounts")
            } else {
                let rows = accounts.map {
                    [
                        $0.id, $0.email, $0.name, $0.plan, $0.subscriptionStatus,
                        Output.isoDate(unixMs: $0.createdUnixMs),
                    ]
                }
                print(Output.table(["ID", "EMAIL", "NAME", "PLAN", "STATUS", "CREATED"], rows), terminator: "")
            }
            if !nextCursor.isEmpty {
                print("more: pelletctl account list --cursor \(nextCursor)")
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change some of an account's fields; the others stay as they are."
        )

        @OptionGroup var options: ConnectionOptions

        @Argument(help: "The account's id (acc_...).")
        var id: String

        @Option(help: "A new name.")
        var name: String?

        @Option(help: "A new email address.")
        var email: String?

        @Option(help: "A new billing plan.")
        var plan: String?

        @Option(help: "A new subscription status; past_due and canceled refuse the account's API calls.")
        var status: SubscriptionStatus?

        @Option(
            help: ArgumentHelp(
                "A new monthly spend limit in US dollars, above 0 (the Account call reads 0 as \"unchanged\").",
                valueName: "usd"
            )
        )
        var budgetUsd: String?

        @Option(help: ArgumentHelp("A new limit of requests per minute, above 0.", valueName: "n"))
        var rateLimitRpm: Int?

        @Option(help: ArgumentHelp("A new picture URL.", valueName: "url"))
        var avatar: String?

        @Option(help: AccountFields.oauthHelp)
        var oauth: String?

        func validate() throws {
            guard !id.isEmpty else { throw ValidationError("the account id may not be empty") }
            // The wire cannot tell "" and 0 from "not given": they would silently change nothing.
            for (option, value) in [("--name", name), ("--email", email), ("--plan", plan), ("--avatar", avatar)] {
                if value?.allSatisfy(\.isWhitespace) == true {
                    throw ValidationError("\(option) may not be empty: an empty value would leave the field unchanged")
                }
            }
            let changes = try changes()
            if budgetUsd != nil, changes.monthlyBudgetMicroUsd == 0 {
                throw ValidationError("--budget-usd must be above 0: the Account call reads 0 as \"unchanged\"")
            }
            if rateLimitRpm == 0 {
                throw ValidationError("--rate-limit-rpm must be above 0: the Account call reads 0 as \"unchanged\"")
            }
            guard changes != Account(id: id) else {
                throw ValidationError(
                    "nothing to change: give at least one of --name, --email, --plan, --status, --budget-usd, "
                        + "--rate-limit-rpm, --avatar, --oauth"
                )
            }
        }

        func run() async throws {
            let response = try await options.accountCall(.update(try changes()))
            try AccountFields.show(try response.requireAccount(), options)
        }

        private func changes() throws -> Account {
            var changes = Account(
                id: id,
                name: name ?? "",
                email: email ?? "",
                avatarUrl: avatar ?? "",
                plan: plan ?? "",
                subscriptionStatus: status?.rawValue ?? ""
            )
            if let oauth { (changes.oauthProvider, changes.oauthSubject) = try AccountFields.oauth(oauth) }
            if let budgetUsd {
                changes.monthlyBudgetMicroUsd = try AccountFields.microUSD(budgetUsd, option: "--budget-usd")
            }
            if let rateLimitRpm { changes.rateLimitRpm = try AccountFields.rateLimit(rateLimitRpm) }
            return changes
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete an account, its keys and everything else held about it.",
            discussion: "Asks for the account id on stdin to confirm, unless --yes is given."
        )

        @OptionGroup var options: ConnectionOptions

        @Argument(help: "The account's id (acc_...).")
        var id: String

        @Flag(name: [.customShort("y"), .long], help: "Do not ask for confirmation.")
        var yes = false

        func validate() throws {
            guard !id.isEmpty else { throw ValidationError("the account id may not be empty") }
        }

        func run() async throws {
            if !yes {
                // Shows whose data goes, and fails with NOT_FOUND before asking about nothing.
                let account = try await options.accountCall(.get(id)).requireAccount()
                try confirm(account)
            }
            let deleted = try await options.accountCall(.delete(id)).requireAccount()
            if options.json {
                try Output.printJSON(AccountJSON(deleted))
            } else {
                print("deleted account \(deleted.id) (\(deleted.email))")
            }
        }

        /// Reads one line from stdin; anything but the id, or end of input, aborts with status 1.
        private func confirm(_ account: Account) throws {
            FileHandle.standardError.write(
                Data(
                    ("Delete account \(account.id) (\(account.email)) and everything held about it? "
                        + "Type the account id to confirm: ").utf8
                )
            )
            guard let answer = readLine(strippingNewline: true) else {
                // End of input leaves the cursor after the prompt.
                Output.printError("\naborted: nothing was deleted")
                throw ExitCode.failure
            }
            guard answer.trimmingCharacters(in: .whitespaces) == account.id else {
                Output.printError("aborted: nothing was deleted")
                throw ExitCode.failure
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write everything held about an account as JSON (personal data: keep it safe).",
            discussion: "Pretty JSON, to stdout or to a file created with mode 0600; --json prints it on one line."
        )

        @OptionGroup var options: ConnectionOptions

        @Argument(help: "The account's id (acc_...).")
        var id: String

        @Option(
            name: [.customShort("o"), .long],
            help: ArgumentHelp("Write to this file instead of stdout.", valueName: "file")
        )
        var output: String?

        func validate() throws {
            guard !id.isEmpty else { throw ValidationError("the account id may not be empty") }
            if output?.isEmpty == true { throw ValidationError("--output may not be empty") }
        }

        func run() async throws {
            let json = try await options.exportAccount(id)
            guard let output, output != "-" else {
                if options.json {
                    print(String(decoding: json, as: UTF8.self))
                } else {
                    print(Output.prettyJSON(json), terminator: "")
                }
                return
            }
            let bytes = Array(Output.prettyJSON(json).utf8)
            do {
                try Self.writePrivately(bytes, to: output)
            } catch {
                Output.printError("error: cannot write \(output): \(error)")
                throw ExitCode.failure
            }
            if options.json {
                try Output.printJSON(ExportReceipt(accountId: id, file: output, bytes: bytes.count))
            } else {
                print("wrote the export of account \(id) to \(output) (\(bytes.count) bytes, mode 0600)")
            }
        }

        /// Creates or truncates `path` and makes it 0600 before a byte of personal data is written.
        private static func writePrivately(_ bytes: [UInt8], to path: String) throws {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw POSIXFailure() }
            defer { close(fd) }
            guard fchmod(fd, 0o600) == 0 else { throw POSIXFailure() }
            var written = 0
            while written < bytes.count {
                let result = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if result < 0 {
                    if errno == EINTR { continue }
                    throw POSIXFailure()
                }
                written += result
            }
            guard fsync(fd) == 0 else { throw POSIXFailure() }
        }
    }
}

/// `strerror(errno)` at the point of failure.
private struct POSIXFailure: Error, CustomStringConvertible {
    let description = String(cString: strerror(errno))
}

/// The values `account update --status` takes.
enum SubscriptionStatus: String, CaseIterable, ExpressibleByArgument {
    case active, trialing
    case pastDue = "past_due"
    case canceled
}

/// Parsing and printing shared by the account, key and whoami commands.
enum AccountFields {
    static let oauthHelp = ArgumentHelp(
        "The OAuth identity that signs in as this account: google:SUBJECT or github:SUBJECT.",
        valueName: "provider:subject"
    )

    /// "google:1234" → ("google", "1234").
    static func oauth(_ text: String) throws -> (provider: String, subject: String) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, ["google", "github"].contains(parts[0]), !parts[1].isEmpty else {
            throw ValidationError("--oauth must be google:SUBJECT or github:SUBJECT, not \"\(text)\"")
        }
        return (String(parts[0]), String(parts[1]))
    }

    /// "12.50" → 12_500_000 micro-USD, exactly: digits, optionally a point and up to six more.
    static func microUSD(_ text: String, option: String) throws -> UInt64 {
        let invalid = ValidationError(
            "\(option) must be a non-negative amount of US dollars with at most 6 decimals, like 12.50, not \"\(text)\""
        )
        let amount = text.hasPrefix("$") ? text.dropFirst() : Substring(text)
        let parts = amount.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let isDigits = { (part: Substring) in part.allSatisfy { $0.isASCII && $0.isNumber } }
        guard let whole = parts.first, !whole.isEmpty, isDigits(whole) else { throw invalid }
        let fraction = parts.count == 2 ? parts[1] : ""
        guard isDigits(fraction), fraction.count <= 6, parts.count == 1 || !fraction.isEmpty else { throw invalid }
        let padded = fraction + String(repeating: "0", count: 6 - fraction.count)
        guard let dollars = UInt64(whole), let micro = UInt64(padded),
            case (let scaled, false) = dollars.multipliedReportingOverflow(by: 1_000_000),
            case (let total, false) = scaled.addingReportingOverflow(micro)
        else {
            throw ValidationError("\(option) \(text) is too large")
        }
        return total
    }

    static func rateLimit(_ value: Int) throws -> UInt32 {
        guard let limit = UInt32(exactly: value) else {
            throw ValidationError("--rate-limit-rpm must be from 0 to \(UInt32.max), not \(value)")
        }
        return limit
    }

    /// The account as labelled lines, or as one JSON object with `--json`.
    static func show(_ account: Account, _ options: ConnectionOptions) throws {
        if options.json {
            try Output.printJSON(AccountJSON(account))
        } else {
            print(text(account), terminator: "")
        }
    }

    static func text(_ account: Account) -> String {
        Output.fields([
            ("id", account.id),
            ("name", account.name),
            ("email", account.email),
            ("plan", account.plan),
            ("status", account.subscriptionStatus),
            (
                "budget",
                account.monthlyBudgetMicroUsd == 0
                    ? "none" : Output.dollars(microUSD: account.monthlyBudgetMicroUsd) + " a month"
            ),
            ("rate limit", account.rateLimitRpm == 0 ? "none" : "\(account.rateLimitRpm) requests a minute"),
            ("oauth", account.oauthProvider.isEmpty ? "none" : "\(account.oauthProvider):\(account.oauthSubject)"),
            ("avatar", account.avatarUrl.isEmpty ? "none" : account.avatarUrl),
            ("created", Output.isoTimestamp(unixMs: account.createdUnixMs)),
        ])
    }
}

extension AccountResponse {
    /// The reply's account, which every op but the key and list ops sets.
    func requireAccount() throws(RPCError) -> Account {
        guard let account else { throw RPCError(.internal, "pelletd's reply has no account") }
        return account
    }
}

/// An account in `--json` output: the schema's field names, as in `account export`.
struct AccountJSON: Encodable {
    var id, name, email, avatarUrl, oauthProvider, oauthSubject, plan, subscriptionStatus: String
    var monthlyBudgetMicroUsd: UInt64
    var rateLimitRpm: UInt32
    var createdUnixMs: UInt64

    init(_ account: Account) {
        id = account.id
        name = account.name
        email = account.email
        avatarUrl = account.avatarUrl
        oauthProvider = account.oauthProvider
        oauthSubject = account.oauthSubject
        plan = account.plan
        subscriptionStatus = account.subscriptionStatus
        monthlyBudgetMicroUsd = account.monthlyBudgetMicroUsd
        rateLimitRpm = account.rateLimitRpm
        createdUnixMs = account.createdUnixMs
    }

    enum CodingKeys: String, CodingKey {
        case id, name, email, plan
        case avatarUrl = "avatar_url"
        case oauthProvider = "oauth_provider"
        case oauthSubject = "oauth_subject"
        case subscriptionStatus = "subscription_status"
        case monthlyBudgetMicroUsd = "monthly_budget_micro_usd"
        case rateLimitRpm = "rate_limit_rpm"
        case createdUnixMs = "created_unix_ms"
    }
}

/// `account list --json`: `next_cursor` is "" on the last page.
private struct AccountPage: Encodable {
    var accounts: [AccountJSON]
    var nextCursor: String

    enum CodingKeys: String, CodingKey {
        case accounts
        case nextCursor = "next_cursor"
    }
}

/// `account export -o FILE --json`.
private struct ExportReceipt: Encodable {
    var accountId: String
    var file: String
    var bytes: Int

    enum CodingKeys: String, CodingKey {
        case accountId = "account_id"
        case file, bytes
    }
}
