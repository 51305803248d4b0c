import PelletProviders
import PelletTesting
import XCTest

final class SSEParserTests: XCTestCase {
    /// Every feature at once: LF, CRLF and CR line ends, a comment, ignored fields, a field without
    /// a colon, a value without the optional space, multi-line data, an empty data line, `[DONE]`,
    /// and bytes after it.
    static let sample = Array(
        (": keep-alive comment\n"
            + "event: message\r\n"
            + "id: 7\r\n"
            + "data: {\"a\":1}\r\n"
            + "\r\n"
            + "data:{\"b\":2}\r"
            + "\r"
            + "data: line one\n"
            + "data: line two\n"
            + "retry: 100\n"
            + "\n"
            + "data\n"
            + "\n"
            + "data: caf\u{e9} \u{1F600}\n"
            + ": trailing comment\n"
            + "\n"
            + "id: only an id\n"
            + "\n"
            + "data: [DONE]\n"
            + "\n"
            + "data: after done\n\n").utf8)

    static let expected: [SSEParser.Event] = [
        .data(Array("{\"a\":1}".utf8)),
        .data(Array("{\"b\":2}".utf8)),
        .data(Array("line one\nline two".utf8)),
        .data([]),
        .data(Array("caf\u{e9} \u{1F600}".utf8)),
        .done,
    ]

    func testTheSampleInOnePiece() throws {
        XCTAssertEqual(try parse([Self.sample]), Self.expected)
    }

    func testEverySplitIntoTwoPiecesGivesTheSameEvents() throws {
        for split in 0...Self.sample.count {
            let pieces = [Array(Self.sample[..<split]), Array(Self.sample[split...])]
            XCTAssertEqual(try parse(pieces), Self.expected, "split at \(split)")
        }
    }

    func testEverySplitIntoThreePiecesGivesTheSameEvents() throws {
        let sample = Self.sample
        for first in stride(from: 0, through: sample.count, by: 1) {
            for second in stride(from: first, through: sample.count, by: 3) {
                let pieces = [Array(sample[..<first]), Array(sample[first..<second]), Array(sample[second...])]
                XCTAssertEqual(try parse(pieces), Self.expected, "splits at \(first), \(second)")
            }
        }
    }

    func testByteByByte() throws {
        XCTAssertEqual(try parse(Self.sample.map { [$0] }), Self.expected)
    }

    func testRandomChunkingsWithASeed() throws {
        var generator = SeededGenerator(state: 0x5EED_0F_55E)
        for round in 0..<500 {
            var pieces: [[UInt8]] = []
            var index = 0
            while index < Self.sample.count {
                let length = Int.random(in: 0...12, using: &generator)
                let end = min(Self.sample.count, index + length)
                pieces.append(Array(Self.sample[index..<end]))
                index = end
            }
            XCTAssertEqual(try parse(pieces), Self.expected, "round \(round): \(pieces.map(\.count))")
        }
    }

    func testACarriageReturnAtAChunkEndFollowedByALineFeedIsOneLineEnd() throws {
        // "data: x\r" | "\n\r\n": one CRLF, then a blank line; not two blank lines.
        let events = try parse([Array("data: x\r".utf8), Array("\ndata: y\r\n\r\n".utf8)])
        XCTAssertEqual(events, [.data(Array("x\ny".utf8))])
    }

    func testOnlyOneLeadingSpaceIsRemovedFromAValue() throws {
        XCTAssertEqual(try parse([Array("data:   indented\n\n".utf8)]), [.data(Array("  indented".utf8))])
    }

    func testALeadingByteOrderMarkIsSkipped() throws {
        let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("data: x\n\n".utf8)
        XCTAssertEqual(try parse([Array(bytes[..<2]), Array(bytes[2...])]), [.data(Array("x".utf8))])
    }

    func testOtherFieldsAloneDoNotDispatchAnEvent() throws {
        XCTAssertEqual(try parse([Array("event: ping\nid: 1\n\n: comment\n\n".utf8)]), [])
    }

    func testDoneIsOnlyTheExactData() throws {
        let events = try parse([Array("data:  [DONE]\n\ndata: [DONE] \n\ndata: [DONE]\n\n".utf8)])
        XCTAssertEqual(events, [.data(Array(" [DONE]".utf8)), .data(Array("[DONE] ".utf8)), .done])
    }

    func testNothingIsParsedAfterDone() throws {
        var parser = SSEParser()
        var events: [SSEParser.Event] = []
        try parser.parse(Array("data: [DONE]\n\n".utf8), into: &events)
        XCTAssertTrue(parser.isDone)
        try parser.parse(Array("data: more\n\n".utf8), into: &events)
        try parser.finish(into: &events)
        XCTAssertEqual(events, [.done])
    }

    func testFinishTakesALastEventWithoutItsBlankLine() throws {
        var parser = SSEParser()
        var events: [SSEParser.Event] = []
        try parser.parse(Array("data: a\n\ndata: [DONE]".utf8), into: &events)
        XCTAssertEqual(events, [.data(Array("a".utf8))])
        try parser.finish(into: &events)
        XCTAssertEqual(events, [.data(Array("a".utf8)), .done])
    }

    func testFinishWithNothingPendingAddsNothing() throws {
        var parser = SSEParser()
        var events: [SSEParser.Event] = []
        try parser.parse(Array("data: a\n\n: bye\n".utf8), into: &events)
        try parser.finish(into: &events)
        XCTAssertEqual(events, [.data(Array("a".utf8))])
    }

    func testAnEventLargerThanTheLimitIsAnErrorWhetherSplitOrNot() {
        let big = Array(("data: " + String(repeating: "x", count: 100) + "\n\n").utf8)
        for pieces in [[big], big.map { [$0] }] {
            var parser = SSEParser(maximumEventBytes: 64)
            var events: [SSEParser.Event] = []
            XCTAssertThrowsError(try pieces.forEach { try parser.parse($0, into: &events) })
        }
        // Many lines that together exceed it, too.
        var parser = SSEParser(maximumEventBytes: 64)
        var events: [SSEParser.Event] = []
        let lines = Array(String(repeating: "data: 0123456789\n", count: 10).utf8)
        XCTAssertThrowsError(try parser.parse(lines, into: &events))
    }

    func testEventsJustUnderTheLimitPass() throws {
        var parser = SSEParser(maximumEventBytes: 64)
        var events: [SSEParser.Event] = []
        let value = String(repeating: "y", count: 63)
        try parser.parse(Array("data: \(value)\n\n".utf8), into: &events)
        XCTAssertEqual(events, [.data(Array(value.utf8))])
    }

    /// Found by tools/fuzz sse: the limit was checked on a line's buffered fragment (with the
    /// event's data) but not on a line that arrived whole, so a split stream failed where the
    /// same bytes in one piece did not.
    func testHowAStreamIsSplitNeverChangesTheOutcomeAtTheLimit() {
        let nearLimit = "data: " + String(repeating: "y", count: 63) + "\n\n"
        let longComment = ": " + String(repeating: "z", count: 100) + "\ndata: a\n\n"
        let longField = "data: a\nid" + String(repeating: "4", count: 90) + ": x\n\ndata: b\n\n"
        for text in [nearLimit, longComment, longField] {
            let bytes = Array(text.utf8)
            let whole = outcome([bytes], maximumEventBytes: 64)
            XCTAssertEqual(outcome(bytes.map { [$0] }, maximumEventBytes: 64), whole, text)
            XCTAssertEqual(outcome([Array(bytes.prefix(5)), Array(bytes.dropFirst(5))], maximumEventBytes: 64), whole)
        }
        XCTAssertEqual(outcome([Array(nearLimit.utf8)], maximumEventBytes: 64).events.count, 1)
        XCTAssertTrue(outcome([Array(longComment.utf8)], maximumEventBytes: 64).failed, "a line past the limit")
    }

    private struct Outcome: Equatable {
        var events: [SSEParser.Event] = []
        var failed = false
    }

    private func outcome(_ pieces: [[UInt8]], maximumEventBytes: Int) -> Outcome {
        var parser = SSEParser(maximumEventBytes: maximumEventBytes)
        var outcome = Outcome()
        do {
            for piece in pieces { try parser.parse(piece, into: &outcome.events) }
            try parser.finish(into: &outcome.events)
        } catch {
            outcome.failed = true
        }
        return outcome
    }

    private func parse(_ pieces: [[UInt8]]) throws -> [SSEParser.Event] {
        var parser = SSEParser()
        var events: [SSEParser.Event] = []
        for piece in pieces {
            try parser.parse(piece, into: &events)
        }
        try parser.finish(into: &events)
        return events
    }
}
