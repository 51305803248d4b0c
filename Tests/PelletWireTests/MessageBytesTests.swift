import PelletWire
import XCTest

/// The bytes on the wire are standard protobuf: these expectations are assembled by hand from
/// the encoding rules (tag = field << 3 | wire type; varints little-endian base 128; floats as
/// little-endian fixed32; strings, bytes, messages and packed repeated scalars length-delimited),
/// not taken from the encoder under test.
final class MessageBytesTests: XCTestCase {
    func testCredentialsBytes() {
        XCTAssertEqual(
            Credentials(apiKey: "plt_abc", adminToken: "t").encodedBytes(),
            [0x0A, 0x07, 0x70, 0x6C, 0x74, 0x5F, 0x61, 0x62, 0x63, 0x12, 0x01, 0x74]
        )
        // Defaults are not sent: an empty message is zero bytes.
        XCTAssertEqual(Credentials().encodedBytes(), [])
    }

    func testHealthResponseBytes() {
        let provider = ProviderHealth(name: "groq", state: "healthy", errorRate: 0.25, latencyP50Ms: 300)
        let providerBytes: [UInt8] =
            stringField(0x0A, "groq") + stringField(0x12, "healthy")
            + [0x1D, 0x00, 0x00, 0x80, 0x3E]  // field 3 fixed32: 0.25 = 0x3E800000, little-endian
            + [0x20, 0xAC, 0x02]  // field 4 varint: 300 = 0b10_0101100
        XCTAssertEqual(provider.encodedBytes(), providerBytes)

        let response = HealthResponse(version: "0.1.0", uptimeMs: 1_234, inFlight: 1, providers: [provider])
        let expected: [UInt8] =
            [0x0A, 0x05, 0x30, 0x2E, 0x31, 0x2E, 0x30]  // field 1 "0.1.0"
            + [0x10, 0xD2, 0x09]  // field 2 varint 1234
            + [0x18, 0x01]  // field 3 varint 1
            + lengthDelimited(0x22, providerBytes)  // field 4, one ProviderHealth
        XCTAssertEqual(response.encodedBytes(), expected)
    }

    func testUInt64MaxIsATenByteVarint() {
        XCTAssertEqual(
            UsageTotals(requests: .max, latencyMsSum: 1).encodedBytes(),
            [0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x30, 0x01]
        )
        XCTAssertEqual(TokenUsage(promptTokens: .max).encodedBytes(), [0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
    }

    func testUsageRequestBytesWithPackedEnumsAndBool() {
        let request = UsageRequest(
            credentials: Credentials(apiKey: "k"),
            accountId: "acc_1",
            fromDay: 19_000,
            toDay: 19_030,
            groupBy: [.model, .taskType],
            listRequests: true,
            cursor: "c",
            limit: 100
        )
        let expected: [UInt8] =
            lengthDelimited(0x0A, stringField(0x0A, "k"))
            + stringField(0x12, "acc_1")
            + [0x18, 0xB8, 0x94, 0x01]  // 19000
            + [0x20, 0xD6, 0x94, 0x01]  // 19030
            + [0x2A, 0x02, 0x01, 0x03]  // group_by, packed (proto3's default for repeated scalars)
            + [0x30, 0x01]
            + stringField(0x3A, "c")
            + [0x40, 0x64]
        XCTAssertEqual(request.encodedBytes(), expected)
    }

    func testFloatsAndRepeatedStringsInCompleteRequest() {
        let request = CompleteRequest(temperature: 0.5, topP: 0.9, stop: ["a", "", "b"])
        let expected: [UInt8] =
            [0x35] + fixed32(0.5)  // field 6, wire type 5
            + [0x3D] + fixed32(0.9)  // field 7
            + stringField(0x42, "a") + stringField(0x42, "") + stringField(0x42, "b")
        XCTAssertEqual(fixed32(0.5), [0x00, 0x00, 0x00, 0x3F])
        XCTAssertEqual(request.encodedBytes(), expected)
    }

    /// proto3 `optional`: a temperature or top_p of 0 is on the wire (field present, value 0),
    /// unset is absent; so an old client that never set them still means "the provider's default".
    func testZeroSamplingParametersAreSentAndUnsetOnesAreNot() throws {
        XCTAssertEqual(CompleteRequest(temperature: 0, topP: 0).encodedBytes(), [0x35] + fixed32(0) + [0x3D] + fixed32(0))
        XCTAssertEqual(CompleteRequest().encodedBytes(), [])
        let decoded = try CompleteRequest(decoding: [0x35] + fixed32(0))
        XCTAssertEqual(decoded.temperature, 0)
        XCTAssertNil(decoded.topP)
        XCTAssertNil(try CompleteRequest(decoding: []).temperature)
    }

    func testAccountRequestOneofBytes() {
        let credentials = lengthDelimited(0x0A, stringField(0x0A, "plt_x"))
        // An empty string is still sent when it is the chosen case of the oneof.
        XCTAssertEqual(
            AccountRequest(credentials: Credentials(apiKey: "plt_x"), op: .get("")).encodedBytes(),
            credentials + [0x1A, 0x00]
        )
        XCTAssertEqual(AccountRequest(op: .create(Account())).encodedBytes(), [0x12, 0x00])
        XCTAssertEqual(AccountRequest(op: .export("acc")).encodedBytes(), stringField(0x5A, "acc"))
        XCTAssertEqual(
            AccountRequest(op: .list(ListAccounts(cursor: "", limit: 5))).encodedBytes(),
            [0x52, 0x02, 0x10, 0x05]
        )
    }

    func testBytesFieldCarriesArbitraryBytes() {
        XCTAssertEqual(AccountResponse(exportJson: [0x00, 0xFF, 0x7B]).encodedBytes(), [0x32, 0x03, 0x00, 0xFF, 0x7B])
    }

    func testErrorPayloadBytes() {
        XCTAssertEqual(
            ErrorPayload(code: 8, message: "slow down", retryAfterMs: 1_500).encodedBytes(),
            [0x08, 0x08] + stringField(0x12, "slow down") + [0x18, 0xDC, 0x0B]
        )
    }

    // MARK: - Decoding hand-made bytes

    func testDecodesFieldsInAnyOrderAndTheLastScalarWins() throws {
        let bytes: [UInt8] = [0x18, 0x07] + stringField(0x0A, "0.1.0") + [0x10, 0x01, 0x18, 0x02]
        XCTAssertEqual(try HealthResponse(decoding: bytes), HealthResponse(version: "0.1.0", uptimeMs: 1, inFlight: 2))
    }

    func testSkipsUnknownFieldsOfEveryWireType() throws {
        let unknown: [UInt8] =
            [0x98, 0x06, 0x96, 0x01]  // field 99, varint 150
            + [0xA1, 0x06, 1, 2, 3, 4, 5, 6, 7, 8]  // field 100, fixed64
            + [0xAA, 0x06, 0x03, 0x61, 0x62, 0x63]  // field 101, length-delimited "abc"
            + [0xB5, 0x06, 9, 9, 9, 9]  // field 102, fixed32
            + [0xC0, 0x0C, 0x2A]  // field 200: unknown to HealthResponse, which ends at 7
        let known: [UInt8] = stringField(0x0A, "0.1.0") + [0x10, 0xD2, 0x09, 0x18, 0x01]
        let expected = HealthResponse(version: "0.1.0", uptimeMs: 1_234, inFlight: 1)
        XCTAssertEqual(try HealthResponse(decoding: unknown + known), expected)
        XCTAssertEqual(try HealthResponse(decoding: known + unknown), expected)
        XCTAssertEqual(
            try HealthResponse(decoding: Array(known.prefix(7)) + unknown + Array(known.dropFirst(7))),
            expected
        )
        // Unknown fields are not kept: a re-encoding holds only the schema's fields.
        XCTAssertEqual(try HealthResponse(decoding: unknown + known).encodedBytes(), known)
        // An unknown field inside a nested message is skipped too.
        let nested = lengthDelimited(0x0A, [0x98, 0x06, 0x01] + stringField(0x0A, "k"))
        XCTAssertEqual(try HealthRequest(decoding: nested), HealthRequest(credentials: Credentials(apiKey: "k")))
    }

    func testAcceptsRepeatedEnumsBothPackedAndUnpacked() throws {
        XCTAssertEqual(try UsageRequest(decoding: [0x28, 0x01, 0x28, 0x04]).groupBy, [.model, .key])
        XCTAssertEqual(try UsageRequest(decoding: [0x2A, 0x02, 0x01, 0x04, 0x28, 0x00]).groupBy, [.model, .key, .day])
    }

    func testDecodesWhatAnotherImplementationMaySendForDefaults() throws {
        // Explicit zero values and an empty packed list are legal and mean "default".
        let bytes: [UInt8] = [0x0A, 0x00, 0x10, 0x00, 0x18, 0x00, 0x22, 0x00]
        XCTAssertEqual(
            try HealthResponse(decoding: bytes),
            HealthResponse(providers: [ProviderHealth()])
        )
        XCTAssertEqual(try UsageRequest(decoding: [0x2A, 0x00]).groupBy, [])
        // A varint may carry redundant continuation bytes.
        XCTAssertEqual(try TokenUsage(decoding: [0x08, 0x81, 0x80, 0x80, 0x00]).promptTokens, 1)
    }
}
