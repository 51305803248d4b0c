import Foundation
import PelletStore
import PelletWire
import XCTest

final class AccountTests: StoreTestCase {
    func testCreateAssignsIdTimeAndDefaults() async throws {
        let store = try openStore()
        let account = try await store.createAccount(
            Account(id: "acc_chosen", name: "Ada", email: "Ada@Example.com", createdUnixMs: 5)
        )
        XCTAssertTrue(account.id.hasPrefix("acc_"))
        XCTAssertEqual(account.id.count, 20)
        XCTAssertTrue(account.id.dropFirst(4).allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
        XCTAssertEqual(account.createdUnixMs, testEpoch)
        XCTAssertEqual(account.plan, "free")
        XCTAssertEqual(account.subscriptionStatus, "active")
        XCTAssertEqual(account.email, "Ada@Example.com")
        XCTAssertEqual(try store.account(id: account.id), account)
        XCTAssertEqual(try store.account(email: "ada@example.COM"), account)
        XCTAssertNil(try store.account(id: "acc_missing"))
        XCTAssertNil(try store.account(id: ""))
        XCTAssertNil(try store.account(email: "nobody@example.com"))
    }

    func testCreateRefusesInvalidFields() async throws {
        let store = try openStore()
        let valid = Account(name: "Ada", email: "ada@example.com")
        @discardableResult
        func refused(_ change: (inout Account) -> Void) async -> String? {
            var account = valid
            change(&account)
            return await assertStoreError(.invalidArgument) { try await store.createAccount(account) }
        }
        for email in ["", "ada", "ada@", "@example.com", "a@b@example.com", "ada@example", "ada@.com", "a da@x.com"] {
            let message = await refused { $0.email = email }
            XCTAssertEqual(message, "email \"\(email)\" is not an address of the form name@domain.tld")
        }
        await refused { $0.email = String(repeating: "a", count: 250) + "@x.com" }
        let emptyName = await refused { $0.name = "" }
        XCTAssertEqual(emptyName, "name must not be empty")
        await refused { $0.name = "   " }
        await refused { $0.name = String(repeating: "n", count: 201) }
        let plan = await refused { $0.plan = "gold" }
        XCTAssertEqual(plan, "plan \"gold\" is not one of enterprise, free, pro, team")
        await refused { $0.subscriptionStatus = "paused" }
        await refused { $0.oauthProvider = "facebook"; $0.oauthSubject = "1" }
        await refused { $0.oauthProvider = "github" }
        await refused { $0.oauthSubject = "1234" }
        XCTAssertEqual(try store.listAccounts().accounts, [])

        var maximal = valid
        maximal.name = String(repeating: "n", count: 200)
        maximal.plan = "enterprise"
        maximal.subscriptionStatus = "past_due"
        maximal.oauthProvider = "github"
        maximal.oauthSubject = "583231"
        let created = try await store.createAccount(maximal)
        XCTAssertEqual(created.plan, "enterprise")
    }

    func testDuplicateEmailOrOAuthIdentityIsRefused() async throws {
        let store = try openStore()
        _ = try await store.createAccount(
            Account(name: "Ada", email: "ada@example.com", oauthProvider: "google", oauthSubject: "g-1")
        )
        let emailMessage = await assertStoreError(.alreadyExists) {
            try await store.createAccount(Account(name: "Other", email: "ADA@EXAMPLE.COM"))
        }
        XCTAssertEqual(emailMessage, "an account with email ADA@EXAMPLE.COM already exists")
        await assertStoreError(.alreadyExists) {
            try await store.createAccount(
                Account(name: "Other", email: "other@example.com", oauthProvider: "google", oauthSubject: "g-1")
            )
        }
        // The same subject at another provider is another identity.
        _ = try await store.createAccount(
            Account(name: "Other", email: "other@example.com", oauthProvider: "github", oauthSubject: "g-1")
        )
        XCTAssertEqual(try store.listAccounts().accounts.count, 2)
    }

    func testConcurrentCreatesWithOneEmailLetExactlyOneSucceed() async throws {
        let store = try openStore()
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<100 {
                group.addTask {
                    do {
                        _ = try await store.createAccount(Account(name: "Racer \(index)", email: "race@example.com"))
                        return true
                    } catch let error as StoreError where error.kind == .alreadyExists {
                        return false
                    }
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        XCTAssertEqual(outcomes.filter { $0 }.count, 1)
        XCTAssertEqual(outcomes.count, 100)
        XCTAssertEqual(try store.listAccounts().accounts.count, 1)
    }

    func testUpdateReplacesOnlyTheFieldsGiven() async throws {
        let store = try openStore()
        let account = try await store.createAccount(
            Account(name: "Ada", email: "ada@example.com", monthlyBudgetMicroUsd: 5_000_000, rateLimitRpm: 60)
        )
        clock.advance(by: 1000)
        let updated = try await store.updateAccount(
            Account(id: account.id, plan: "pro", rateLimitRpm: 600, createdUnixMs: 1)
        )
        var expected = account
        expected.plan = "pro"
        expected.rateLimitRpm = 600
        XCTAssertEqual(updated, expected)
        XCTAssertEqual(try store.account(id: account.id), expected)
    }

    func testUpdatingTheEmailMovesTheIndex() async throws {
        let store = try openStore()
        let ada = try await makeAccount(store)
        let grace = try await makeAccount(store, email: "grace@example.com", name: "Grace")

        let moved = try await store.updateAccount(Account(id: ada.id, email: "Countess@Example.com"))
        XCTAssertEqual(moved.email, "Countess@Example.com")
        XCTAssertNil(try store.account(email: "ada@example.com"))
        XCTAssertEqual(try store.account(email: "countess@example.com")?.id, ada.id)
        // The old address is free again.
        _ = try await makeAccount(store, email: "ada@example.com", name: "New Ada")

        await assertStoreError(.alreadyExists) {
            try await store.updateAccount(Account(id: ada.id, email: "GRACE@example.com"))
        }
        XCTAssertEqual(try store.account(id: ada.id)?.email, "Countess@Example.com")
        XCTAssertEqual(try store.account(email: "grace@example.com"), grace)
        // Changing only the case keeps the account its own address.
        let recased = try await store.updateAccount(Account(id: ada.id, email: "countess@example.com"))
        XCTAssertEqual(try store.account(email: "COUNTESS@example.com"), recased)
    }

    func testUpdateErrors() async throws {
        let store = try openStore()
        let ada = try await makeAccount(store)
        await assertStoreError(.notFound) { try await store.updateAccount(Account(id: "acc_missing", name: "X")) }
        await assertStoreError(.invalidArgument) { try await store.updateAccount(Account(name: "No id")) }
        await assertStoreError(.invalidArgument) { try await store.updateAccount(Account(id: ada.id, email: "bad")) }
        await assertStoreError(.invalidArgument) { try await store.updateAccount(Account(id: ada.id, plan: "gold")) }
        await assertStoreError(.invalidArgument) {
            try await store.updateAccount(Account(id: ada.id, oauthProvider: "github"))
        }
        _ = try await store.createAccount(
            Account(name: "G", email: "g@example.com", oauthProvider: "github", oauthSubject: "7")
        )
        await assertStoreError(.alreadyExists) {
            try await store.updateAccount(Account(id: ada.id, oauthProvider: "github", oauthSubject: "7"))
        }
    }

    func testListPagesInIdOrder() async throws {
        let store = try openStore()
        var created: [Account] = []
        for index in 0..<7 {
            created.append(try await makeAccount(store, email: "user\(index)@example.com"))
        }
        let all = created.sorted { $0.id < $1.id }

        var pages: [[Account]] = []
        var cursor = ""
        repeat {
            let page = try store.listAccounts(cursor: cursor, limit: 3)
            pages.append(page.accounts)
            cursor = page.nextCursor
        } while !cursor.isEmpty
        XCTAssertEqual(pages.map(\.count), [3, 3, 1])
        XCTAssertEqual(pages.flatMap { $0 }, all)

        XCTAssertEqual(try store.listAccounts(cursor: "", limit: 7).nextCursor, "")
        XCTAssertEqual(try store.listAccounts().accounts, all)
        XCTAssertEqual(try store.listAccounts(cursor: all[5].id, limit: 0).accounts, [all[6]])
    }

    func testListLimitIsCapped() async throws {
        let store = try openStore()
        let table = try await store.openDatabase(named: "accounts")
        // Writes 1200 minimal records straight into the table: far faster than 1200 creates.
        try await store.write { transaction in
            for index in 0..<1200 {
                let id = "acc_" + String(index + 10000)
                let account = Account(id: id, name: "N", email: "n\(index)@example.com")
                try transaction.put(table, key: id, value: account.encodedBytes())
            }
        }
        XCTAssertEqual(try store.listAccounts().accounts.count, 50)
        let capped = try store.listAccounts(limit: 5000)
        XCTAssertEqual(capped.accounts.count, 1000)
        XCTAssertEqual(capped.nextCursor, capped.accounts.last?.id)
    }
}
