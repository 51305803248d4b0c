import Foundation
import PelletWire
import XCTest

@testable import PelletProviders

final class JSONReaderTests: XCTestCase {
    /// The string in `["…"]`, read by the reader.
    private func string(_ json: String) throws -> String {
        try JSONReader.read(Array(json.utf8)) { reader throws(JSONReader.Failure) in
            try reader.beginArray()
            XCTAssertTrue(try reader.nextElement())
            let value = try reader.readString()
            XCTAssertFalse(try reader.nextElement())
            return value
        }
    }

    private func int(_ json: String) throws -> Int {
        try JSONReader.read(Array(json.utf8)) { reader throws(JSONReader.Failure) in try reader.readInt() }
    }

    private func isValid(_ bytes: [UInt8]) -> Bool { JSONReader.isValid(bytes) }
    private func isValid(_ json: String) -> Bool { JSONReader.isValid(Array(json.utf8)) }

    // MARK: - Strings

    func testEscapes() throws {
        XCTAssertEqual(try string(#"["a\/b\b\f\n\r\t\"\\"]"#), "a/b\u{8}\u{C}\n\r\t\"\\")
        XCTAssertEqual(try string(#"["\u0041\u00e9\u00E9\u4e2d\u0000"]"#), "Aéé中\u{0}")
        XCTAssertEqual(try string(#"["\ud83d\ude00 \uD83D\uDE00"]"#), "😀 😀")
        XCTAssertEqual(try string(#"["no escapes"]"#), "no escapes")
        XCTAssertEqual(try string(#"[""]"#), "")
        // Long enough not to be a small string, with escapes at both ends.
        let long = String(repeating: "ab\\n", count: 40)
        XCTAssertEqual(try string("[\"\\t\(long)\\u00e9\"]"), "\t" + String(repeating: "ab\n", count: 40) + "é")

        for bad in [
            #"["\x"]"#, #"["\U0041"]"#, #"["\u12"]"#, #"["\u12G4"]"#, #"["\"#, #"["\u"]"#,
            #"["\ud83d"]"#, #"["\ude00"]"#, #"["\ud83dx"]"#, #"["\ud83d\u0041"]"#, #"["\ud83d\ud83d"]"#,
            #"["\ud83d\n"]"#, "[\"a\u{1}b\"]", "[\"a\nb\"]", "[\"a\tb\"]", #"["abc]"#, #"['a']"#,
        ] {
            XCTAssertFalse(isValid(bad), bad)
        }
        XCTAssertTrue(isValid("[\"a\u{7F}b\"]"), "DEL needs no escape")
    }

    func testEscapedKeysMatch() throws {
        let completion = try OpenAIChat.decodeCompletion(
            Array(#"{"mod\u0065l":"m","choices":[{"mess\u0061ge":{"content":"x"},"finish_\u0072eason":"stop"}]}"#.utf8)
        )
        XCTAssertEqual(completion, ChatCompletion(content: "x", finishReason: "stop", usage: nil, model: "m"))
    }

    func testUnicode() throws {
        XCTAssertEqual(try string("[\"café 中文 😀 \u{10FFFF}\"]"), "café 中文 😀 \u{10FFFF}")
        XCTAssertTrue(isValid("\u{FEFF}[1]"), "a UTF-8 byte order mark, as Foundation accepts")

        let invalid: [[UInt8]] = [
            [0xFF], [0x80], [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF],
            [0xED, 0xA0, 0x80], [0xF0, 0x80, 0x80, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80],
            [0xE4, 0xB8], [0xC3], [0xC3, 0x41], [0xE4, 0x41, 0xAD],
        ]
        for sequence in invalid {
            let document = Array(#"{"skipped":"a"#.utf8) + sequence + Array(#"b"}"#.utf8)
            XCTAssertFalse(isValid(document), "\(sequence)")
            XCTAssertFalse(isValid(Array(#"[""#.utf8) + sequence + Array(#""]"#.utf8)), "\(sequence)")
        }
        let valid: [[UInt8]] = [
            [0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80],
            [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF],
        ]
        for sequence in valid {
            XCTAssertTrue(isValid(Array(#"[""#.utf8) + sequence + Array(#""]"#.utf8)), "\(sequence)")
        }
    }

    // MARK: - Structure

    func testUnknownKeysAndValuesOfEveryTypeAreSkipped() throws {
        let body = #"""
             {"id":"x","extra":{"a":[1,-2.5e3,true,false,null,{"b":{"c":[[],{}]}},"s\"\u00e9"],"d":{}},
            "choices" : [ {"logprobs":{"content":[{"token":"Hi","bytes":[72,105]}]},"index":0,
            "message":{"role":"assistant","content":"Hi","tool_calls":[{"function":{"content":"no"}}]},
            "finish_reason":"stop","content":"not this"},{"message":{"content":"second"}}],
            "usage":{"prompt_tokens":7,"completion_tokens":2,"details":{"prompt_tokens":99}},"model":"m"}
            """#
        let completion = try OpenAIChat.decodeCompletion(Array(body.utf8))
        XCTAssertEqual(
            completion,
            ChatCompletion(
                content: "Hi",
                finishReason: "stop",
                usage: TokenUsage(promptTokens: 7, completionTokens: 2),
                model: "m"
            )
        )
    }

    func testStructuralErrors() {
        for bad in [
            "", " ", "{", "}", "[", "]", "{]", "[}", "{,}", "[,]", "[1,,2]", "[1 2]", #"{"a" 1}"#, #"{"a":}"#,
            #"{"a"}"#, #"{a:1}"#, "{1:2}", #"{"a":1 "b":2}"#, "[1]]", "[1] x", "{}{}", "tru", "nul", "falsey",
            "True", "[true false]", "\u{B}[]", "[1,,]", #"{"a":1,,}"#, "// c\n[]", "/* c */[]",
        ] {
            XCTAssertFalse(isValid(bad), bad)
        }
        for good in [
            "{}", "[]", " \t\r\n{ } \n", "[[],{}]", "null", "true", "false", "0", #""s""#, "[1,]", #"{"a":1,}"#,
        ] {
            XCTAssertTrue(isValid(good), good)
        }
    }

    // MARK: - Numbers

    func testNumbersInEveryForm() throws {
        for good in [
            "0", "-0", "7", "-7", "1234567890", "0.5", "-0.5", "10.25", "1e5", "1E5", "1e+5", "1e-5", "1.5E-10",
            "-0.0e+0", "123456789012345678901234567890", "1e400", "1e-400",
        ] {
            XCTAssertTrue(isValid(good), good)
            XCTAssertTrue(isValid("[\(good)]"), good)
            XCTAssertTrue(isValid(#"{"n":\#(good)}"#), good)
        }
        for bad in [
            "01", "-01", "00", "-", "+1", "--1", "1.", ".5", "-.5", "1.e5", "1e", "1e+", "1E-", "0x10", "1_000",
            "NaN", "Infinity", "-Infinity", "1.5.5", "1e5e5", "１",
        ] {
            XCTAssertFalse(isValid(bad), bad)
            XCTAssertFalse(isValid("[\(bad)]"), bad)
            XCTAssertFalse(isValid(#"{"n":\#(bad)}"#), bad)
        }
    }

    func testWholeNumbersAsJSONDecoderReadsThem() throws {
        XCTAssertEqual(try int("12"), 12)
        XCTAssertEqual(try int("-12"), -12)
        XCTAssertEqual(try int("-0"), 0)
        XCTAssertEqual(try int("1.0"), 1)
        XCTAssertEqual(try int("1e2"), 100)
        XCTAssertEqual(try int("2500E-2"), 25)
        XCTAssertEqual(try int("1e-400"), 0)
        XCTAssertEqual(try int("9223372036854775807"), .max)
        XCTAssertEqual(try int("-9223372036854775808"), .min)
        for bad in [
            "1.5", "9223372036854775808", "-9223372036854775809", "1e400", "123456789012345678901234", #""5""#, "true",
            "null",
        ] {
            XCTAssertThrowsError(try int(bad), bad)
        }
        let double = try JSONReader.read(Array("-1.25e2".utf8)) { reader throws(JSONReader.Failure) in
            try reader.readDouble()
        }
        XCTAssertEqual(double, -125)
    }

    // MARK: - Limits and truncation

    func testNestingDeeperThanTheLimitIsRefused() {
        let limit = JSONReader.maximumDepth
        func arrays(_ depth: Int) -> [UInt8] {
            Array(String(repeating: "[", count: depth).utf8) + Array(String(repeating: "]", count: depth).utf8)
        }
        func objects(_ depth: Int) -> [UInt8] {
            Array(String(repeating: #"{"a":"#, count: depth).utf8) + [UInt8(ascii: "1")]
                + Array(String(repeating: "}", count: depth).utf8)
        }
        XCTAssertTrue(isValid(arrays(limit)))
        XCTAssertFalse(isValid(arrays(limit + 1)))
        XCTAssertTrue(isValid(objects(limit)))
        XCTAssertFalse(isValid(objects(limit + 1)))
        // Far past the limit, open and unclosed: refused, not a stack overflow.
        XCTAssertFalse(isValid(Array(repeating: UInt8(ascii: "["), count: 1_000_000)))
        XCTAssertFalse(isValid(arrays(200_000)))
        XCTAssertThrowsError(
            try OpenAIChat.decodeChunk(Array(#"{"x":"#.utf8) + arrays(100_000) + Array("}".utf8))
        ) { error in
            XCTAssertEqual((error as? ProviderFailure)?.kind, .malformedResponse)
            XCTAssertTrue("\(error)".contains("nested deeper than 512"), "\(error)")
        }
    }

    func testEveryTruncationOfAValidDocumentIsRejected() throws {
        let body = Array(
            #"""
            {"id":"c1","model":"m\u00e9","choices":[{"message":{"content":"Hi \"you\" 😀 \ud83d\ude00\n",\#
            "role":"assistant"},"finish_reason":"stop","logprobs":null,"ok":true,"no":false}],\#
            "usage":{"prompt_tokens":12,"completion_tokens":3.0e0,"cost":-1.5E-3},"x":[[],{},""]}
            """#.utf8
        )
        XCTAssertNoThrow(try OpenAIChat.decodeCompletion(body))
        for length in 0..<body.count {
            let prefix = Array(body[..<length])
            XCTAssertFalse(isValid(prefix), "prefix \(length)")
            XCTAssertThrowsError(try OpenAIChat.decodeCompletion(prefix), "prefix \(length)") { error in
                XCTAssertEqual((error as? ProviderFailure)?.kind, .malformedResponse, "prefix \(length)")
            }
            XCTAssertThrowsError(try OpenAIChat.decodeChunk(prefix), "prefix \(length)")
        }
    }

    func testFailuresSayWhereAndNeverQuoteTheDocument() {
        XCTAssertThrowsError(try OpenAIChat.decodeCompletion(Array(#"{"model":"secret text","choices":5}"#.utf8))) {
            error in
            let message = "\(error)"
            XCTAssertEqual(
                message,
                "the provider's response does not parse: expected an array, found a number at byte 33"
            )
            XCTAssertFalse(message.contains("secret"))
        }
        XCTAssertThrowsError(try OpenAIChat.decodeChunk(Array(#"{"choices":[{"delta":{"content":"abc"#.utf8))) {
            error in
            XCTAssertEqual("\(error)", "the provider's stream chunk does not parse: unexpected end of data at byte 36")
        }
    }

    // MARK: - Against Foundation

    /// Valid and invalid JSON, by hand; mutated further by ``testMutationsAgreeWithFoundation()``.
    /// No number has more than 3 digits, so that no mutation makes one past `Double`'s range:
    /// Foundation refuses those, the reader checks only their syntax (as `JSONDecoder` did in
    /// values it skipped; ``JSONReader/readInt()`` refuses them).
    static let corpus: [String] = [
        "{}", "[]", "null", "true", "false", "0", "-1.5e3", #""""#, #""a\u00e9\ud83d\ude00""#, "[1,2,3]",
        #"{"a":{"b":{"c":[1,{"d":null}]}},"e":"f\n"}"#, #"[{"a":[]},{"b":{}},[[[]]]]"#, " [ 1 , 2 ] ",
        #"{"choices":[{"delta":{"content":"x"},"finish_reason":null}],"usage":{"prompt_tokens":4}}"#,
        "[1,]", #"{"a":1,}"#, "[01]", "[1.]", "[.1]", "[-]", "[1e]", "[+1]", "[NaN]", "[Infinity]", "[tru]",
        #"["\x"]"#, #"["\U0041"]"#, #"["\ud800"]"#, #"["\udc00\ud800"]"#, "[\"\u{1}\"]", "[\"\u{7F}\"]",
        "{,}", "[,]", "[1,,2]", #"{"a" 1}"#, #"{"a":}"#, "{'a':1}", "{a:1}", "[1]x", "{}{}", "[", "]",
        #"{"a":"b","a":"c"}"#, #"[1e5, 1E-5, 0.0, -0, 123]"#, #"["a\/b\b\f\r\t\"\\"]"#,
        "[\"\u{10FFFF}\"]", "\u{FEFF}{}", "\u{B}[]", "[\n\r\t ]",
    ]

    private func foundationAccepts(_ bytes: [UInt8]) -> Bool {
        (try? JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed)) != nil
    }

    func testAcceptsAndRejectsWhatFoundationDoes() {
        var documents = Self.corpus.map { Array($0.utf8) }
        documents.append(Array(#"["a"#.utf8) + [0xFF] + Array(#""]"#.utf8))
        documents.append(Array(#"{"a":"#.utf8) + [0xED, 0xA0, 0x80] + Array("}".utf8))
        for document in documents {
            XCTAssertEqual(isValid(document), foundationAccepts(document), String(decoding: document, as: UTF8.self))
        }
    }

    func testStringsReadAsFoundationReadsThem() throws {
        for json in [#"["a\u00e9\ud83d\ude00\u0000\/\b"]"#, "[\"café 中文 😀\"]", #"["\"\\\n\r\t\f"]"#] {
            let foundation = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String]
            XCTAssertEqual(try string(json), foundation?.first, json)
        }
    }

    /// Every document of the corpus with one byte replaced, deleted or inserted, at every
    /// offset: the reader and `JSONSerialization` accept the same ones.
    func testMutationsAgreeWithFoundation() {
        // Bytes that make JSON interesting; no NUL, which turns on Foundation's UTF-16 detection.
        let replacements: [UInt8] = Array(#"{}[],:"\/ 0-1.eE+tnfuxa"#.utf8) + [0x01, 0x0A, 0x7F, 0x80, 0xC3, 0xFF]
        var checked = 0
        for document in Self.corpus.map({ Array($0.utf8) }) {
            var variants: [[UInt8]] = []
            for offset in document.indices {
                var deleted = document
                deleted.remove(at: offset)
                variants.append(deleted)
                for byte in replacements {
                    var replaced = document
                    replaced[offset] = byte
                    variants.append(replaced)
                    var inserted = document
                    inserted.insert(byte, at: offset)
                    variants.append(inserted)
                }
            }
            for variant in variants {
                checked += 1
                if isValid(variant) != foundationAccepts(variant) {
                    XCTFail("reader \(isValid(variant)), Foundation \(foundationAccepts(variant)): \(variant)")
                }
            }
        }
        XCTAssertGreaterThan(checked, 10_000)
    }

    /// On valid JSON, the response decoding gives what the `JSONDecoder` shapes it replaced gave,
    /// or fails where they failed; invalid JSON is malformed. (`JSONDecoder` also took some
    /// invalid JSON in values it skipped, such as `01` or bad UTF-8: no longer.)
    func testResponsesDecodeAsJSONDecoderDid() {
        let bodies = [
            #"{"model":"m","choices":[{"message":{"content":"a"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#,
            #"{"choices":[{"delta":{"content":"a"},"finish_reason":null}],"model":null,"usage":null,"x_groq":null}"#,
            #"{"choices":[{"message":null,"delta":null}]}"#, #"{"choices":[]}"#, #"{"choices":null}"#, "{}",
            #"{"choices":[{}, 5]}"#, #"{"choices":[{}, null]}"#, #"{"choices":[null]}"#, #"{"choices":"x"}"#,
            #"{"choices":[{"message":{"content":5}}]}"#, #"{"choices":[{"message":[]}]}"#,
            #"{"choices":[{"delta":{"content":5}}]}"#, #"{"choices":[{"finish_reason":1}]}"#,
            #"{"usage":{"prompt_tokens":1.0,"completion_tokens":1e2}}"#, #"{"usage":{"prompt_tokens":1.5}}"#,
            #"{"usage":{"prompt_tokens":-3,"completion_tokens":99999999999}}"#, #"{"usage":{"prompt_tokens":"5"}}"#,
            #"{"usage":{"prompt_tokens":9223372036854775808}}"#, #"{"usage":[]}"#, #"{"usage":{"prompt_tokens":null}}"#,
            #"{"x_groq":{"usage":{"prompt_tokens":5,"completion_tokens":9}}}"#, #"{"x_groq":{"usage":5}}"#,
            #"{"usage":{"prompt_tokens":1},"x_groq":{"usage":{"prompt_tokens":5}}}"#,
            #"{"error":null}"#, #"{"error":5}"#, #"{"error":[]}"#, #"{"error":{}}"#, #"{"error":{"message":5}}"#,
            #"{"error":{"message":null}}"#, #"{"error":"x"}"#, #"{"error":true}"#,
            #"{"model":"a","model":"b"}"#, #"{"model":5,"model":"b"}"#, #"{"model":"b","model":5}"#,
            #"{"choices":[{"message":null}],"choices":[{"finish_reason":"x"}]}"#,
            #"{"usage":{"prompt_tokens":1,"prompt_tokens":2}}"#, "[]", #""s""#, "null", "5",
            "\u{FEFF}{\"model\":\"bom\"}",
        ]
        for body in bodies.map({ Array($0.utf8) }) {
            let text = String(decoding: body, as: UTF8.self)
            XCTAssertEqual(
                outcome { try OpenAIChat.decodeCompletion(body) },
                outcome { try Legacy.decodeCompletion(body) },
                text
            )
            XCTAssertEqual(outcome { try OpenAIChat.decodeChunk(body) }, outcome { try Legacy.decodeChunk(body) }, text)
        }
    }

    private func outcome<Value>(of decode: () throws -> Value) -> String {
        do {
            return "\(try decode())"
        } catch let failure as ProviderFailure {
            return "\(failure.kind)"
        } catch {
            return "\(error)"
        }
    }
}

/// The `JSONDecoder` decoding that `JSONReader` replaced, kept as the reference for
/// ``JSONReaderTests/testResponsesDecodeAsJSONDecoderDid()``.
private enum Legacy {
    static func decodeCompletion(_ body: [UInt8]) throws(ProviderFailure) -> ChatCompletion {
        guard let decoded = try? JSONDecoder().decode(Body<CompletionChoice>.self, from: Data(body)) else {
            throw ProviderFailure(kind: .malformedResponse, message: "")
        }
        if decoded.error != nil { throw ProviderFailure(kind: .providerError, message: "") }
        guard let choice = decoded.choices?.first else { throw ProviderFailure(kind: .malformedResponse, message: "") }
        return ChatCompletion(
            content: choice.message?.content ?? "",
            finishReason: choice.finishReason ?? "",
            usage: (decoded.usage ?? decoded.groq?.usage)?.tokenUsage,
            model: decoded.model ?? ""
        )
    }

    static func decodeChunk(_ data: [UInt8]) throws(ProviderFailure) -> ChatStreamChunk {
        guard let decoded = try? JSONDecoder().decode(Body<ChunkChoice>.self, from: Data(data)) else {
            throw ProviderFailure(kind: .malformedResponse, message: "")
        }
        if decoded.error != nil { throw ProviderFailure(kind: .providerError, message: "") }
        let choice = decoded.choices?.first
        return ChatStreamChunk(
            delta: choice?.delta?.content ?? "",
            finishReason: choice?.finishReason,
            usage: (decoded.usage ?? decoded.groq?.usage)?.tokenUsage,
            model: decoded.model ?? ""
        )
    }

    struct Usage: Decodable {
        var prompt_tokens: Int?
        var completion_tokens: Int?

        var tokenUsage: TokenUsage {
            TokenUsage(
                promptTokens: UInt32(clamping: max(0, prompt_tokens ?? 0)),
                completionTokens: UInt32(clamping: max(0, completion_tokens ?? 0))
            )
        }
    }

    struct Groq: Decodable { var usage: Usage? }

    struct ErrorDetail: Decodable {
        var message: String?
        enum CodingKeys: String, CodingKey { case message }

        init(from decoder: any Decoder) throws {
            if let text = try? decoder.singleValueContainer().decode(String.self) {
                message = text
            } else {
                message = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(String.self, forKey: .message)
            }
        }
    }

    struct Content: Decodable { var content: String? }

    struct CompletionChoice: Decodable {
        var message: Content?
        var finishReason: String?
        enum CodingKeys: String, CodingKey {
            case message
            case finishReason = "finish_reason"
        }
    }

    struct ChunkChoice: Decodable {
        var delta: Content?
        var finishReason: String?
        enum CodingKeys: String, CodingKey {
            case delta
            case finishReason = "finish_reason"
        }
    }

    struct Body<Choice: Decodable>: Decodable {
        var model: String?
        var choices: [Choice]?
        var usage: Usage?
        var groq: Groq?
        var error: ErrorDetail?
        enum CodingKeys: String, CodingKey {
            case model, choices, usage, error
            case groq = "x_groq"
        }
    }
}
