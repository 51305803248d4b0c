import PelletServer
import XCTest

/// `pelletd --env-file`: KEY=VALUE lines, and a refusal that names the line and column.
final class EnvironmentFileTests: XCTestCase {
    func testAssignmentsCommentsQuotesAndExport() throws {
        let text = """
            # provider keys
            TOGETHER_API_KEY=tk-1

              export GROQ_API_KEY="gk 2"
            FIREWORKS_API_KEY='fk=3'\r
            TOGETHER_API_KEY=tk-4
            EMPTY=
            """
        XCTAssertEqual(
            try EnvironmentFile.parse(text, path: "keys.env"),
            ["TOGETHER_API_KEY": "tk-4", "GROQ_API_KEY": "gk 2", "FIREWORKS_API_KEY": "fk=3", "EMPTY": ""])
    }

    func testABadLineIsRefusedWithItsLineAndColumn() {
        let cases: [(String, String)] = [
            ("A=1\n  just words\n", "keys.env:2:3: expected NAME=VALUE"),
            ("A=1\n9LIVES=x\n", "keys.env:2:1: \"9LIVES\" is not a variable name (letters, digits and '_', not starting with a digit)"),
            ("export  KEY=\"open\n", "keys.env:1:13: the value of KEY opens a quote (\") that the line does not close"),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try EnvironmentFile.parse(text, path: "keys.env"), text) { error in
                XCTAssertEqual("\(error)", message)
            }
        }
        XCTAssertThrowsError(try EnvironmentFile.read(path: "/nonexistent/keys.env")) { error in
            XCTAssertTrue("\(error)".hasPrefix("/nonexistent/keys.env: cannot read it"), "\(error)")
        }
    }
}
