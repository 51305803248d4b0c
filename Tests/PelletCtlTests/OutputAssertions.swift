import Foundation
import XCTest

/// Asserts that `text` has exactly one line per pattern and that each whole line matches its
/// regular expression.
func assertLines(
    _ text: String,
    match patterns: [String],
    file: StaticString = #filePath,
    line: UInt = #line
) {
    XCTAssertTrue(
        text.hasSuffix("\n"),
        "the output does not end with a newline: \(text.debugDescription)",
        file: file,
        line: line
    )
    let lines = ProcessResult.lines(text)
    XCTAssertEqual(lines.count, patterns.count, "wrong number of lines in:\n\(text)", file: file, line: line)
    for (index, (actual, pattern)) in zip(lines, patterns).enumerated() {
        guard let regex = try? Regex(pattern) else {
            XCTFail("bad pattern \(pattern)", file: file, line: line)
            continue
        }
        XCTAssertNotNil(
            try? regex.wholeMatch(in: actual),
            "line \(index + 1) \(actual.debugDescription) does not match /\(pattern)/",
            file: file,
            line: line
        )
    }
}

/// Decodes one JSON object, failing the test when `text` is not one.
func jsonObject(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
    return try XCTUnwrap(object as? [String: Any], "not a JSON object: \(text)", file: file, line: line)
}

/// The regex that matches `text` literally.
func literal(_ text: String) -> String {
    NSRegularExpression.escapedPattern(for: text)
}

extension ProcessResult {
    /// Asserts a clean success: exit code 0 and nothing on stderr.
    func assertSucceeded(file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(wasSignalled, "killed by signal \(status)", file: file, line: line)
        XCTAssertEqual(status, 0, "stderr: \(stderr)", file: file, line: line)
        XCTAssertEqual(stderr, "", file: file, line: line)
    }

    /// Asserts a refusal to start: a non-zero exit of its own (not a signal), stderr holding
    /// `message`, and no "ready" line.
    func assertRefusedToStart(mentioning message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(wasSignalled, "killed by signal \(status)", file: file, line: line)
        XCTAssertNotEqual(status, 0, file: file, line: line)
        XCTAssertTrue(stderr.contains(message), stderr, file: file, line: line)
        XCTAssertFalse(stderr.contains(" ready"), stderr, file: file, line: line)
    }
}
