import PelletProviders

/// Decoding provider responses: a unary completion body and one stream event, shaped like
/// Together AI's (ids, `created`, `logprobs`, `seed` and other keys Pellet skips).
enum ProviderBenchmarks {
    static func all() throws -> [MicroBenchmark] {
        let completion = Array(sampleCompletionBody.utf8)
        guard try OpenAIChat.decodeCompletion(completion).usage?.completionTokens == 96 else {
            throw MicroError("the sample completion body does not decode to its usage")
        }
        let decodeCompletion = MicroBenchmark(
            "provider.decode-completion",
            notes: "OpenAIChat.decodeCompletion, \(completion.count)-byte body"
        ) {
            blackHole(try OpenAIChat.decodeCompletion(completion))
        }

        let chunk = Array(sampleChunk.utf8)
        guard try OpenAIChat.decodeChunk(chunk).delta == " Canberra" else {
            throw MicroError("the sample stream chunk does not decode to its delta")
        }
        let decodeChunk = MicroBenchmark(
            "provider.decode-chunk",
            notes: "OpenAIChat.decodeChunk, \(chunk.count)-byte event"
        ) {
            blackHole(try OpenAIChat.decodeChunk(chunk))
        }
        return [decodeCompletion, decodeChunk]
    }

    static let sampleCompletionBody = #"""
        {"id":"8f2c1a9b7e3d4c5a-SJC","object":"chat.completion","created":1733312345,\#
        "model":"openai/gpt-oss-120b","prompt":[],"choices":[{"finish_reason":"stop",\#
        "seed":1234567890123456789,"logprobs":null,"index":0,"message":{"role":"assistant",\#
        "content":"The capital of Australia is **Canberra**.\n\nMany people guess \"Sydney\" or \"Melbourne\", \#
        the two largest cities; Canberra was purpose-built as a compromise between them and has been the \#
        seat of government since 1927. It lies in the Australian Capital Territory, about 280 km \#
        south-west of Sydney \u2014 a planned city designed by Walter Burley Griffin and Marion Mahony \#
        Griffin.","tool_calls":[]}}],"usage":{"prompt_tokens":42,"completion_tokens":96,"total_tokens":138}}
        """#

    static let sampleChunk = #"""
        {"id":"8f2c1a9b7e3d4c5a-SJC","object":"chat.completion.chunk","created":1733312345,\#
        "choices":[{"index":0,"text":" Canberra","logprobs":null,"finish_reason":null,"seed":null,\#
        "delta":{"token_id":69947,"role":"assistant","content":" Canberra","tool_calls":null}}],\#
        "model":"openai/gpt-oss-120b","usage":null}
        """#
}
