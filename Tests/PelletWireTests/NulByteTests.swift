import PelletWire
import XCTest

/// A string field with a NUL byte is refused, naming the field: protobuf-c would hand it over
/// cut at the NUL.
final class NulByteTests: XCTestCase {
    private func nulError<M: WireMessage>(
        _ type: M.Type,
        _ bytes: [UInt8],
        file: StaticString = #filePath,
        line: UInt = #line
    ) -> String {
        do {
            let decoded = try M(decoding: bytes)
            XCTFail("\(M.self) accepted \(hex(bytes)) as \(decoded)", file: file, line: line)
            return ""
        } catch {
            return error.description
        }
    }

    private let cleanMessage = lengthDelimited(0x12, stringField(0x0A, "user") + stringField(0x12, "hello"))
    private let nulMessage = lengthDelimited(0x12, stringField(0x0A, "user") + stringField(0x12, "ab\0cd"))

    func testATopLevelString() {
        XCTAssertEqual(
            nulError(ChatMessage.self, stringField(0x12, "ab\0cd")),
            "the payload is not a valid pellet.v1.ChatMessage: content contains a NUL byte"
        )
        XCTAssertEqual(nulError(ChatMessage.self, stringField(0x0A, "\0")), "the payload is not a valid pellet.v1.ChatMessage: role contains a NUL byte")
        XCTAssertEqual(try ChatMessage(decoding: stringField(0x12, "abcd")).content, "abcd")
    }

    func testNestedAndRepeatedMessages() {
        // The NUL is in the second of three messages.
        let route = cleanMessage + nulMessage + cleanMessage
        XCTAssertEqual(
            nulError(RouteRequest.self, route),
            "the payload is not a valid pellet.v1.RouteRequest: messages.content contains a NUL byte"
        )
        XCTAssertTrue(nulError(CompleteRequest.self, nulMessage).hasSuffix(": messages.content contains a NUL byte"))
        let credentials = lengthDelimited(0x0A, stringField(0x12, "padm_secret\0\0"))
        XCTAssertTrue(nulError(UsageRequest.self, credentials).hasSuffix(": credentials.admin_token contains a NUL byte"))
        // Two levels down: RouteResponse.decision.fallbacks.provider.
        let fallback = lengthDelimited(0x32, stringField(0x12, "gr\0q"))
        XCTAssertTrue(
            nulError(RouteResponse.self, lengthDelimited(0x0A, fallback))
                .hasSuffix(": decision.fallbacks.provider contains a NUL byte")
        )
    }

    func testRepeatedStrings() {
        // CompleteRequest.stop (8) and .providers (10).
        let stops = stringField(0x42, "END") + stringField(0x42, "\0")
        XCTAssertTrue(nulError(CompleteRequest.self, stops).hasSuffix(": stop contains a NUL byte"))
        let providers = stringField(0x52, "groq") + stringField(0x52, "together\0")
        XCTAssertTrue(nulError(CompleteRequest.self, providers).hasSuffix(": providers contains a NUL byte"))
    }

    func testTheOneof() {
        XCTAssertTrue(nulError(AccountRequest.self, stringField(0x1A, "acc_\0x")).hasSuffix(": get contains a NUL byte"))
        let create = lengthDelimited(0x12, stringField(0x12, "Ada\0") + stringField(0x1A, "ada@example.com"))
        XCTAssertTrue(nulError(AccountRequest.self, create).hasSuffix(": create.name contains a NUL byte"))
        XCTAssertEqual(try AccountRequest(decoding: stringField(0x1A, "acc_1")).op, .get("acc_1"))
    }

    func testNulBytesInBytesFieldsAndUnknownFieldsAreFine() throws {
        let export: [UInt8] = [0x00, 0x7B, 0x00, 0x7D, 0x00]
        XCTAssertEqual(try AccountResponse(decoding: lengthDelimited(0x32, export)).exportJson, export)
        // Field 15 is not in ChatMessage: skipped like any unknown field.
        let unknown = lengthDelimited(0x7A, [0x00, 0x00]) + stringField(0x12, "hi")
        XCTAssertEqual(try ChatMessage(decoding: unknown).content, "hi")
        let route = try RouteRequest(decoding: cleanMessage + [0x28, 0x80, 0x01] + cleanMessage)
        XCTAssertEqual(route.messages.map(\.content), ["hello", "hello"])
        XCTAssertEqual(route.maxTokens, 128)
    }
}
