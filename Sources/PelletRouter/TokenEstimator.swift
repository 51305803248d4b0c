import PelletWire

/// A fast estimate of a conversation's prompt tokens, for the context-window check and the cost
/// estimate, without a tokenizer's vocabulary.
///
/// One pass over each message's bytes counts what drives a BPE tokenizer's count: runs of letters
/// (about a token each, more for long words), digit groups (cl100k splits numbers into groups of up
/// to three), punctuation, newlines, indentation runs and non-ASCII characters by their UTF-8
/// length. A linear combination of those counts, fitted against cl100k_base (Llama 3's base
/// vocabulary) by `tools/router-data/fit_token_estimator.py`, gives the content tokens; each message
/// adds 4 for its role and separators and the conversation 3 for the reply's header.
///
/// Measured on the held-out prompts: about 4% mean absolute error against cl100k_base and o200k_base
/// (bytes/4 is off by 11%); see tools/router-data/README.md.
public enum TokenEstimator {
    /// Role and separator tokens around each message.
    public static let tokensPerMessage = 4
    /// The assistant header that primes the reply.
    public static let tokensPerConversation = 3

    /// Fitted by fit_token_estimator.py on the train split against cl100k_base, in this order:
    /// letter runs, letters beyond the sixth in a run, digit groups, ASCII punctuation, newlines,
    /// runs of two or more spaces/tabs, 2-, 3- and 4-byte UTF-8 characters.
    static let coefficients: [Float] = [1.076, 0.084, 1.806, 0.438, 0.738, 0.441, 0.495, 1.135, 1.5]

    public static func estimate(_ messages: [ChatMessage]) -> Int {
        var total = tokensPerConversation
        for message in messages {
            var content = message.content
            total += content.withUTF8 { contentTokens($0) } + tokensPerMessage
        }
        return total
    }

    /// The estimate for one message's content, without the per-message overhead.
    public static func estimate(content: String) -> Int {
        var content = content
        return content.withUTF8 { contentTokens($0) }
    }

    private enum Run {
        case none
        case letters
        case digits
        case spaces
    }

    /// A long message is estimated from its edges (``PromptEdges``), scaled by its length: the
    /// estimate stays proportional to the size that the context window and the cost depend on,
    /// while the bytes read stay bounded.
    static func contentTokens(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        let edges = PromptEdges.of(bytes)
        guard let tail = edges.tail else { return countTokens(bytes) }
        let sampled = Double(countTokens(edges.head) + countTokens(tail))
        return Int((sampled * Double(bytes.count) / Double(edges.head.count + tail.count)).rounded(.up))
    }

    private static func countTokens(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var letterRuns = 0
        var longLetters = 0
        var digitGroups = 0
        var punctuation = 0
        var newlines = 0
        var spaceRuns = 0
        var twoByte = 0
        var threeByte = 0
        var fourByte = 0
        var run = Run.none
        var length = 0

        @inline(__always) func closeRun() {
            switch run {
            case .letters:
                letterRuns += 1
                longLetters += max(0, length - 6)
            case .digits:
                digitGroups += (length + 2) / 3
            case .spaces:
                if length >= 2 { spaceRuns += 1 }
            case .none:
                break
            }
        }

        for byte in bytes {
            let kind: Run
            switch byte {
            case 0x41...0x5A, 0x61...0x7A: kind = .letters
            case 0x30...0x39: kind = .digits
            case 0x20, 0x09: kind = .spaces
            default: kind = .none
            }
            if kind != run {
                closeRun()
                run = kind
                length = 0
            }
            length += 1
            if kind == .none {
                switch byte {
                case 0x0A: newlines += 1
                case 0x21...0x7E: punctuation += 1
                case 0xC0...0xDF: twoByte += 1
                case 0xE0...0xEF: threeByte += 1
                case 0xF0...0xFF: fourByte += 1
                default: break
                }
            }
        }
        closeRun()

        let c = coefficients
        var estimate = c[0] * Float(letterRuns)
        estimate += c[1] * Float(longLetters)
        estimate += c[2] * Float(digitGroups)
        estimate += c[3] * Float(punctuation)
        estimate += c[4] * Float(newlines)
        estimate += c[5] * Float(spaceRuns)
        estimate += c[6] * Float(twoByte)
        estimate += c[7] * Float(threeByte)
        estimate += c[8] * Float(fourByte)
        return Int(estimate.rounded(.up))
    }
}
