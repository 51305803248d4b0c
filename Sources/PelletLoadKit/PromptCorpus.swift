import Foundation

/// The prompts a run cycles through: a built-in mix of task types, or a JSONL file's.
public enum PromptCorpus {
    /// A dozen short prompts covering the router's task types, so that Route and Complete see a
    /// realistic spread of classifications rather than one path over and over.
    public static let builtIn: [String] = [
        // code
        "Write a Python function that returns the n-th Fibonacci number iteratively, with a docstring.",
        "Why does this Swift code crash with an index out of range: let a = [1, 2, 3]; print(a[3])?",
        // math
        "Solve for x: 3x + 7 = 25. Show each step.",
        // summarization
        "Summarize in two sentences: the team moved the weekly sync to Thursday, agreed to freeze "
            + "features two weeks before the release, and asked QA to add a smoke test for the login flow.",
        // translation
        "Translate into French: Where is the nearest train station, and when does the last train leave?",
        // qa
        "What is the difference between a process and a thread?",
        // chat
        "Hi! I just got back from a long trip and I'm exhausted. Any tips for getting over jet lag?",
        // creative
        "Write a four-line poem about a lighthouse keeper who waits for a letter.",
        // extraction
        "Extract the name, date and amount as JSON from: Invoice 1042 from Ada Lovelace, issued "
            + "March 3 2025, total due 1,250.00 EUR.",
        // classification
        "Classify the sentiment of this review as positive, negative or neutral: The battery lasts "
            + "all day but the screen scratches far too easily.",
        // reasoning
        "If all bloops are razzies and some razzies are lazzies, can we conclude that some bloops "
            + "are lazzies? Explain your reasoning.",
        "A train leaves at 9:40 and the trip takes 2 hours 35 minutes. It is 15 minutes late. When does it arrive?",
    ]

    /// Reads one JSON object per line with a `"prompt"` string; other keys are ignored, blank
    /// lines skipped.
    public static func load(path: String) throws(LoadError) -> [String] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason = (error as NSError).localizedFailureReason ?? error.localizedDescription
            throw LoadError("--prompts \(path) cannot be read: \(reason)")
        }
        return try parse(jsonLines: data, source: path)
    }

    public static func parse(jsonLines data: Data, source: String) throws(LoadError) -> [String] {
        var prompts: [String] = []
        var lineNumber = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let text = line.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
            if text.isEmpty || text == Data([UInt8(ascii: "\r")]) { continue }
            let object = try? JSONSerialization.jsonObject(with: Data(text))
            guard let fields = object as? [String: Any] else {
                throw LoadError("--prompts \(source), line \(lineNumber): not a JSON object")
            }
            guard let prompt = fields["prompt"] as? String, !prompt.isEmpty else {
                throw LoadError(
                    "--prompts \(source), line \(lineNumber): no \"prompt\" string (each line is an object "
                        + "such as {\"prompt\": \"Translate hello into Spanish\"})"
                )
            }
            prompts.append(prompt)
        }
        guard !prompts.isEmpty else {
            throw LoadError("--prompts \(source) holds no prompts (one JSON object per line)")
        }
        return prompts
    }
}
