import PelletWire
import XCTest

final class MessageDecodingErrorTests: XCTestCase {
    private func assertRejects<M: WireMessage>(
        _ type: M.Type,
        _ bytes: [UInt8],
        mentioning expected: [String],
        file: StaticString = #filePath,
        line: UInt = #line
    ) {
        do {
            let decoded = try M(decoding: bytes)
            XCTFail("\(M.self) accepted \(hex(bytes)) as \(decoded)", file: file, line: line)
        } catch {
            for text in expected {
                XCTAssertTrue(
                    error.description.contains(text),
                    "\"\(error.description)\" does not mention \"\(text)\"",
                    file: file,
                    line: line
                )
            }
        }
    }

    func testTruncatedPayloads() {
        let full = HealthResponse(version: "0.1.0", uptimeMs: 1_234, inFlight: 1).encodedBytes()
        // Cut inside the string, inside the varint, and right after a tag.
        for cut in [1, 2, 4, 6, 8, 9, 11] {
            assertRejects(HealthResponse.self, Array(full.prefix(cut)), mentioning: ["pellet.v1.HealthResponse"])
        }
        assertRejects(ProviderHealth.self, [0x1D, 0x00, 0x00, 0x80], mentioning: ["pellet.v1.ProviderHealth"])
        assertRejects(UsageTotals.self, [0x08, 0xFF, 0xFF], mentioning: ["pellet.v1.UsageTotals"])
        // A nested message whose length runs past its parent's end.
        assertRejects(RouteResponse.self, [0x0A, 0x05, 0x0A, 0x01], mentioning: ["pellet.v1.RouteResponse"])
        // A length far beyond the payload must fail without trying to allocate it.
        assertRejects(Credentials.self, [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F], mentioning: ["pellet.v1.Credentials"])
    }

    func testEveryMessageRejectsTruncatedFullSamplesWithoutCrashing() {
        // Every prefix of every full sample either decodes (a cut between fields) or throws.
        for kind in messageCatalogue {
            let bytes = kind.encode(kind.full)
            // A message with no fields has no bytes to cut.
            guard !bytes.isEmpty else { continue }
            var rejected = 0
            for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 400)) {
                do {
                    _ = try kind.decodeBytes(Array(bytes.prefix(cut)))
                } catch {
                    rejected += 1
                    XCTAssertTrue(error.description.contains("pellet.v1.\(kind.protoName)"), error.description)
                }
            }
            XCTAssertGreaterThan(rejected, 0, kind.protoName)
        }
    }

    func testWrongWireTypeForAField() {
        assertRejects(Credentials.self, [0x08, 0x01], mentioning: ["pellet.v1.Credentials"])  // string as varint
        // A varint field sent length-delimited.
        assertRejects(HealthResponse.self, [0x12, 0x01, 0x00], mentioning: ["pellet.v1.HealthResponse"])
        assertRejects(ProviderHealth.self, [0x18, 0x01], mentioning: ["pellet.v1.ProviderHealth"])  // float as varint
        assertRejects(RouteResponse.self, [0x08, 0x01], mentioning: ["pellet.v1.RouteResponse"])  // message as varint
        // A varint field sent as fixed64.
        assertRejects(UsageTotals.self, [0x09, 1, 2, 3, 4, 5, 6, 7, 8], mentioning: ["pellet.v1.UsageTotals"])
    }

    func testMalformedTagsAndVarints() {
        assertRejects(Credentials.self, [0x00, 0x00], mentioning: ["pellet.v1.Credentials"])  // field number 0
        assertRejects(Credentials.self, [0x0B], mentioning: ["pellet.v1.Credentials"])  // start-group
        assertRejects(Credentials.self, [0x0E, 0x00], mentioning: ["pellet.v1.Credentials"])  // wire type 6
        assertRejects(Credentials.self, [0x0F, 0x00], mentioning: ["pellet.v1.Credentials"])  // wire type 7
        // An 11-byte varint.
        assertRejects(
            UsageTotals.self,
            [0x08] + Array(repeating: 0xFF, count: 10) + [0x01],
            mentioning: ["pellet.v1.UsageTotals"]
        )
    }

    func testErrorMessageIsNamedByItsProtoName() {
        // The Swift type is ErrorPayload; the caller should read the schema's name.
        assertRejects(ErrorPayload.self, [0x08], mentioning: ["pellet.v1.Error", "not a valid"])
    }

    func testUnknownEnumValues() {
        assertRejects(RouteRequest.self, [0x20, 0x09], mentioning: ["unknown value 9", "preference"])
        assertRejects(CompleteRequest.self, [0x20, 0x04], mentioning: ["unknown value 4", "preference"])
        assertRejects(UsageRequest.self, [0x2A, 0x02, 0x01, 0x05], mentioning: ["unknown value 5", "group_by"])
        assertRejects(UsageRequest.self, [0x28, 0x07], mentioning: ["unknown value 7", "group_by"])
        // -1 as protobuf sends a negative enum: a 10-byte varint.
        assertRejects(
            RouteRequest.self,
            [0x20] + Array(repeating: 0xFF, count: 9) + [0x01],
            mentioning: ["unknown value", "preference"]
        )
    }
}
