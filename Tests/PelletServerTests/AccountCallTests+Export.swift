import Foundation
import PelletClient
import PelletStore
import PelletTesting
import PelletWire
import XCTest

/// Exports of any size: `export_account` pages, `export` answers in one reply only what fits.
extension AccountCallTests {
    func testAnAccountTooLargeForOneReplyExportsPageByPage() async throws {
        let owner = try await createAccount()
        let other = try await createAccount("other@example.com", name: "Other")
        let today = UInt32(Date().timeIntervalSince1970 / 86_400)
        let events = MeteringEvent.aroundMidnights(account: owner.id, lastDay: today, count: 50_000)
        for batch in stride(from: 0, to: events.count, by: 5_000) {
            try await server.metering.record(contentsOf: Array(events[batch..<batch + 5_000]))
        }
        try await server.metering.record(contentsOf: [.sample("req_other", account: other.id, at: 1_000)])

        let refused = await expectStatus(.resourceExhausted, .export(owner.id))
        XCTAssertTrue(refused?.message.contains("export_account") == true, refused?.message ?? "")

        var cursor = ""
        var pages = 0
        var requestIDs: [String] = []
        var members: Set<String> = []
        repeat {
            let page = try await account(.exportAccount(ExportAccount(accountId: owner.id, cursor: cursor)))
            XCTAssertLessThan(page.exportJson.count, 1 << 20, "page \(pages)")
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(page.exportJson)) as? [String: Any])
            XCTAssertEqual(object["format"] as? String, "pellet.account_export.v1")
            members.formUnion(object.keys)
            for case let record as [String: Any] in object["request_records"] as? [Any] ?? [] {
                requestIDs.append(try XCTUnwrap(record["request_id"] as? String))
            }
            if pages == 0 { XCTAssertEqual((object["account"] as? [String: Any])?["id"] as? String, owner.id) }
            cursor = page.nextCursor
            pages += 1
        } while !cursor.isEmpty && pages < 1_000
        XCTAssertEqual(requestIDs.count, 50_000, "every record once")
        XCTAssertEqual(Set(requestIDs), Set(events.map(\.requestID)), "and only the account's own")
        XCTAssertGreaterThanOrEqual(pages, 50)
        XCTAssertTrue(members.isSuperset(of: ["account", "keys", "usage_counters", "request_records", "monthly_totals"]))

        // A smaller page size and a cursor this server never made.
        let small = try await account(.exportAccount(ExportAccount(accountId: other.id, limit: 1)))
        XCTAssertFalse(small.nextCursor.isEmpty, "one row per page leaves more")
        _ = await expectStatus(.invalidArgument, .exportAccount(ExportAccount(accountId: owner.id, cursor: "bm9wZQ")))
        _ = await expectStatus(.notFound, .exportAccount(ExportAccount(accountId: "acc_missing")))
    }

    func testTheClientJoinsThePagesIntoTheWholeExport() async throws {
        let owner = try await createAccount()
        _ = try await account(.createKey(CreateKey(accountId: owner.id, name: "k")))
        try await server.metering.record(
            contentsOf: MeteringEvent.aroundMidnights(account: owner.id, lastDay: 20_000, count: 40))
        let wholeJSON = try await account(.export(owner.id)).exportJson
        let whole = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(wholeJSON)) as? NSDictionary)

        let exported = try await client.exportAccount(owner.id, credentials: server.adminCredentials, rowsPerPage: 7)
        var joined = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(exported)) as? [String: Any])
        joined["exported_unix_ms"] = whole["exported_unix_ms"]
        XCTAssertEqual(NSDictionary(dictionary: joined), whole)
    }
}
