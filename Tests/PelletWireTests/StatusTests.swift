import Foundation
import PelletWire
import XCTest

final class StatusTests: XCTestCase {
    /// gRPC's status codes (grpc/grpc doc/statuscodes.md), as DESIGN.md section 2 lists them.
    private let grpc: [(UInt32, String)] = [
        (0, "OK"), (1, "CANCELLED"), (2, "UNKNOWN"), (3, "INVALID_ARGUMENT"), (4, "DEADLINE_EXCEEDED"),
        (5, "NOT_FOUND"), (6, "ALREADY_EXISTS"), (7, "PERMISSION_DENIED"), (8, "RESOURCE_EXHAUSTED"),
        (9, "FAILED_PRECONDITION"), (10, "ABORTED"), (11, "OUT_OF_RANGE"), (12, "UNIMPLEMENTED"),
        (13, "INTERNAL"), (14, "UNAVAILABLE"), (15, "DATA_LOSS"), (16, "UNAUTHENTICATED"),
    ]

    func testEveryStatusNumberHasItsGRPCName() {
        XCTAssertEqual(Status.allCases.map(\.rawValue), grpc.map(\.0))
        for (number, name) in grpc {
            let status = Status(rawValue: number)
            XCTAssertEqual(status?.name, name, "status \(number)")
            XCTAssertEqual(status?.description, name)
            XCTAssertEqual(Status(wireValue: number), status)
        }
    }

    func testUnknownNumbersReadAsUnknown() {
        for number: UInt32 in [17, 100, .max] {
            XCTAssertEqual(Status(wireValue: number), .unknown)
        }
    }

    func testStatusNamesMatchDesignDocument() throws {
        // DESIGN.md is outside the repository; check it where it is laid out beside the tree.
        let design = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/DESIGN.md")
        guard let text = try? String(contentsOf: design, encoding: .utf8) else {
            throw XCTSkip("DESIGN.md is not at \(design.path)")
        }
        let flat = text.replacingOccurrences(of: "\n", with: " ")
        for (number, name) in grpc {
            XCTAssertTrue(flat.contains("\(number) \(name)"), "DESIGN.md does not list \(number) \(name)")
        }
    }

    func testRPCErrorAndItsPayload() throws {
        let error = RPCError(.resourceExhausted, "rate limit of 60 requests per minute", retryAfterMs: 750)
        XCTAssertEqual(
            error.payload,
            ErrorPayload(code: 8, message: "rate limit of 60 requests per minute", retryAfterMs: 750)
        )
        XCTAssertEqual(error.description, "RESOURCE_EXHAUSTED: rate limit of 60 requests per minute")
        let received = RPCError(payload: try ErrorPayload(decoding: error.payload.encodedBytes()), frameStatus: 8)
        XCTAssertEqual(received, error)
        // The frame's status wins over the payload's copy of it.
        XCTAssertEqual(RPCError(payload: ErrorPayload(code: 3, message: "x"), frameStatus: 12).status, .unimplemented)
        XCTAssertEqual(RPCError(payload: ErrorPayload(code: 3), frameStatus: 99).status, .unknown)
    }

    func testConnectionErrorDescription() {
        XCTAssertEqual(ConnectionError(.invalidArgument, "bad preface").description, "INVALID_ARGUMENT: bad preface")
    }
}
