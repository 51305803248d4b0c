import Foundation
import PelletClient
import PelletStore
import PelletTesting
import PelletWire
import XCTest

/// The Account call (method 4) over a real socket against a real store.
final class AccountCallTests: XCTestCase {
    // Not private: AccountCallTests+Compaction.swift uses them.
    var server: TestServer!
    var client: PelletClient!

    override func setUp() async throws {
        server = try await TestServer.start()
        client = try await server.client()
    }

    override func tearDown() async throws {
        await client?.close()
        await server?.shutdown()
        (client, server) = (nil, nil)
    }

    private var admin: Credentials { server.adminCredentials }

    func account(_ op: AccountRequest.Op, credentials: Credentials? = nil) async throws(RPCError) -> AccountResponse {
        try await client.account(AccountRequest(credentials: credentials ?? admin, op: op))
    }

    func expectStatus(
        _ status: Status,
        _ op: AccountRequest.Op,
        credentials: Credentials? = nil,
        file: StaticString = #filePath,
        line: UInt = #line
    ) async -> RPCError? {
        do {
            _ = try await account(op, credentials: credentials)
            XCTFail("expected \(status.name)", file: file, line: line)
            return nil
        } catch {
            XCTAssertEqual(error.status, status, error.message, file: file, line: line)
            return error
        }
    }

    func createAccount(_ email: String = "ada@example.com", name: String = "Ada Lovelace") async throws -> Account {
        let response = try await account(.create(Account(name: name, email: email, avatarUrl: "https://example.com/a.png", oauthProvider: "google", oauthSubject: "sub-\(email)")))
        return try XCTUnwrap(response.account)
    }

    func testCreateAssignsIdAndDefaultsAndRejectsDuplicates() async throws {
        let created = try await createAccount()
        XCTAssertTrue(created.id.hasPrefix("acc_"), created.id)
        XCTAssertGreaterThan(created.createdUnixMs, 0)
        XCTAssertEqual(created.plan, "free")
        XCTAssertEqual(created.subscriptionStatus, "active")
        XCTAssertEqual(created.name, "Ada Lovelace")

        _ = await expectStatus(.alreadyExists, .create(Account(name: "Other", email: "ADA@example.com")))
        _ = await expectStatus(.invalidArgument, .create(Account(name: "No Email", email: "not-an-email")))
        _ = await expectStatus(.invalidArgument, .create(Account(name: String(repeating: "x", count: 201), email: "long@example.com")))
        _ = await expectStatus(.invalidArgument, .create(Account(name: "Bad Plan", email: "plan@example.com", plan: "platinum")))
        _ = await expectStatus(.invalidArgument, .create(Account(name: "Bad Status", email: "st@example.com", subscriptionStatus: "sleeping")))
    }

    func testGetGetByEmailUpdateAndList() async throws {
        let created = try await createAccount()
        let response1 = try await account(.get(created.id))
        XCTAssertEqual(response1.account, created)
        let response2 = try await account(.getByEmail("Ada@Example.com"))
        XCTAssertEqual(response2.account?.id, created.id)
        _ = await expectStatus(.notFound, .get("acc_missing"))
        _ = await expectStatus(.notFound, .getByEmail("nobody@example.com"))

        let updated = try await account(.update(Account(id: created.id, plan: "pro", monthlyBudgetMicroUsd: 5_000_000))).account
        XCTAssertEqual(updated?.plan, "pro")
        XCTAssertEqual(updated?.monthlyBudgetMicroUsd, 5_000_000)
        XCTAssertEqual(updated?.name, created.name, "fields not set stay")
        XCTAssertEqual(updated?.email, created.email)
        _ = await expectStatus(.notFound, .update(Account(id: "acc_missing", name: "x")))
        _ = await expectStatus(.invalidArgument, .update(Account(name: "no id")))

        for index in 0..<7 { _ = try await createAccount("user\(index)@example.com", name: "User \(index)") }
        var seen: [String] = []
        var cursor = ""
        repeat {
            let page = try await account(.list(ListAccounts(cursor: cursor, limit: 3)))
            XCTAssertLessThanOrEqual(page.accounts.count, 3)
            seen += page.accounts.map(\.id)
            cursor = page.nextCursor
        } while !cursor.isEmpty
        XCTAssertEqual(seen.count, 8)
        XCTAssertEqual(Set(seen).count, 8, "no duplicates across pages")
    }

    func testKeysAuthenticateAndRevocationTakesEffectOnTheNextCall() async throws {
        let owner = try await createAccount()
        let created = try await account(.createKey(CreateKey(accountId: owner.id, name: "ci")))
        let plaintext = created.apiKey
        let record = try XCTUnwrap(created.keys.first)
        XCTAssertTrue(plaintext.hasPrefix("plt_"))
        XCTAssertGreaterThanOrEqual(plaintext.count, 44)
        XCTAssertEqual(record.prefix, String(plaintext.prefix(12)))
        XCTAssertTrue(record.id.hasPrefix("key_"))

        // `get ""` with the key is "who am I".
        let me = try await account(.get(""), credentials: Credentials(apiKey: plaintext))
        XCTAssertEqual(me.account?.id, owner.id)

        let listed = try await account(.listKeys(owner.id))
        XCTAssertEqual(listed.keys.map(\.id), [record.id])
        XCTAssertEqual(listed.apiKey, "", "the plaintext is shown only once")
        _ = await expectStatus(.notFound, .listKeys("acc_missing"))
        _ = await expectStatus(.notFound, .createKey(CreateKey(accountId: "acc_missing", name: "x")))

        let revoked = try await account(.revokeKey(record.id))
        XCTAssertGreaterThan(revoked.keys.first?.revokedUnixMs ?? 0, 0)
        let afterRevoke = await expectStatus(.unauthenticated, .get(""), credentials: Credentials(apiKey: plaintext))
        let unknown = await expectStatus(.unauthenticated, .get(""), credentials: Credentials(apiKey: "plt_" + String(repeating: "A", count: 43)))
        let malformed = await expectStatus(.unauthenticated, .get(""), credentials: Credentials(apiKey: "hello"))
        XCTAssertEqual(afterRevoke?.message, unknown?.message, "revoked and unknown keys look the same")
        XCTAssertEqual(unknown?.message, malformed?.message, "unknown and malformed keys look the same")
        _ = await expectStatus(.notFound, .revokeKey("key_missing"))
    }

    func testInactiveSubscriptionsArePermissionDenied() async throws {
        let owner = try await createAccount()
        let key = try await account(.createKey(CreateKey(accountId: owner.id, name: "k"))).apiKey
        for status in ["past_due", "canceled"] {
            _ = try await account(.update(Account(id: owner.id, subscriptionStatus: status)))
            let error = await expectStatus(.permissionDenied, .get(""), credentials: Credentials(apiKey: key))
            XCTAssertTrue(error?.message.contains(status) ?? false, error?.message ?? "")
        }
        _ = try await account(.update(Account(id: owner.id, subscriptionStatus: "active")))
        let response3 = try await account(.get(""), credentials: Credentials(apiKey: key))
        XCTAssertEqual(response3.account?.id, owner.id)
    }

    func testAdminTokenIsRequiredAndChecked() async throws {
        let owner = try await createAccount()
        let key = try await account(.createKey(CreateKey(accountId: owner.id, name: "k"))).apiKey
        _ = await expectStatus(.permissionDenied, .get(owner.id), credentials: Credentials())
        _ = await expectStatus(.permissionDenied, .get(owner.id), credentials: Credentials(adminToken: "wrong"))
        _ = await expectStatus(.permissionDenied, .get(owner.id), credentials: Credentials(adminToken: TestServer.adminToken + "x"))
        // An API key is not an admin, even for its own account.
        _ = await expectStatus(.permissionDenied, .get(owner.id), credentials: Credentials(apiKey: key))
        _ = await expectStatus(.permissionDenied, .delete(owner.id), credentials: Credentials(apiKey: key))
        _ = await expectStatus(.unauthenticated, .get(""), credentials: Credentials())
        _ = await expectStatus(.invalidArgument, .get(""))
    }

    func testARequestWithoutAnOperationIsInvalid() async throws {
        do {
            _ = try await client.account(AccountRequest(credentials: admin))
            XCTFail("expected INVALID_ARGUMENT")
        } catch {
            XCTAssertEqual(error.status, .invalidArgument)
            XCTAssertTrue(error.message.contains("no operation"), error.message)
        }
    }

    func testExportHoldsTheAccountAndKeyMetadataButNoSecrets() async throws {
        let owner = try await createAccount()
        let created = try await account(.createKey(CreateKey(accountId: owner.id, name: "exported")))
        let export = try await account(.export(owner.id)).exportJson
        let json = try XCTUnwrap(String(bytes: export, encoding: .utf8))
        XCTAssertTrue(json.contains(owner.id))
        XCTAssertTrue(json.contains("ada@example.com"))
        XCTAssertTrue(json.contains(created.keys[0].id))
        XCTAssertFalse(json.contains(created.apiKey), "the key's plaintext is never exported")
        let hashHex = Store.keyHash(plaintext: created.apiKey).map { String(format: "%02x", $0) }.joined()
        XCTAssertFalse(json.lowercased().contains(hashHex), "nor its hash")
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(export)))
        _ = await expectStatus(.notFound, .export("acc_missing"))
    }

    func testDeleteRemovesEverythingFromTheDatabaseFile() async throws {
        let owner = try await createAccount("grace@example.com", name: "Grace Hopper")
        let keep = try await createAccount("keep@example.com", name: "Kept")
        let key = try await account(.createKey(CreateKey(accountId: owner.id, name: "k")))
        _ = try await account(.createKey(CreateKey(accountId: keep.id, name: "k")))

        let deleted = try await account(.delete(owner.id))
        XCTAssertEqual(deleted.account?.id, owner.id)
        _ = await expectStatus(.notFound, .get(owner.id))
        _ = await expectStatus(.notFound, .delete(owner.id))
        _ = await expectStatus(.unauthenticated, .get(""), credentials: Credentials(apiKey: key.apiKey))

        let dump = try mdbDump(server.directory.file("data"))
        for secret in [owner.id, "grace@example.com", "Grace Hopper", key.keys[0].id, "sub-grace@example.com"] {
            XCTAssertFalse(dump.contains(secret), "\(secret) is still in the database file")
        }
        XCTAssertTrue(dump.contains(keep.id), "other accounts are untouched")
    }

    func testConcurrentCreatesWithOneEmailLetExactlyOneSucceed() async throws {
        let client = self.client!
        let admin = self.admin
        let outcomes = await withTaskGroup(of: Status.self) { group in
            for index in 0..<100 {
                group.addTask {
                    do {
                        _ = try await client.account(AccountRequest(credentials: admin, op: .create(Account(name: "Racer \(index)", email: "race@example.com"))))
                        return .ok
                    } catch let error as RPCError {
                        return error.status
                    } catch {
                        return .unknown
                    }
                }
            }
            return await group.reduce(into: [Status: Int]()) { $0[$1, default: 0] += 1 }
        }
        XCTAssertEqual(outcomes, [Status.ok: 1, Status.alreadyExists: 99])
    }

    func testAccountsAndKeysSurviveARestart() async throws {
        let owner = try await createAccount()
        let key = try await account(.createKey(CreateKey(accountId: owner.id, name: "k"))).apiKey
        await client.close()
        let directory = server.directory
        await server.shutdown()

        server = try await TestServer.start(directory: directory)
        client = try await server.client()
        let response4 = try await account(.get(owner.id))
        XCTAssertEqual(response4.account, owner)
        let response5 = try await account(.get(""), credentials: Credentials(apiKey: key))
        XCTAssertEqual(response5.account?.id, owner.id)
    }
}
