import Foundation
import PelletRouter
import PelletWire

/// A prompt with the task type (and, for Pellet's own set, the difficulty) it is labelled with.
struct LabeledPrompt {
    var id: String
    var task: TaskType
    var difficulty: Difficulty?
    var messages: [ChatMessage]
}

enum LabeledPrompts {
    /// tools/router-data/prompts.jsonl: the set the classifier was trained on (split "train") and
    /// its held-out part (split "heldout"), read from the repository next to this file.
    static func pellet(split: String) throws -> [LabeledPrompt] {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("tools/router-data/prompts.jsonl")
        return try jsonLines(url).compactMap { row in
            guard row["split"] as? String == split else { return nil }
            let messages = (row["messages"] as? [[String: String]] ?? []).map {
                ChatMessage(role: $0["role"] ?? "", content: $0["content"] ?? "")
            }
            return LabeledPrompt(
                id: row["id"] as? String ?? "",
                task: try XCTUnwrapTask(row["task"] as? String),
                difficulty: (row["difficulty"] as? String).flatMap(Difficulty.init(rawValue:)),
                messages: messages
            )
        }
    }

    /// A file of the public routing data (`../shared/data/routing`, routing/README.md) that the
    /// tests check floors on: copied into the test resources (`Resources/routing-data`, with its
    /// NOTICE and LICENSES), so that the floors are checked on any clone, CI's included.
    static func sharedData(_ path: String) throws -> URL {
        let relative = path.hasPrefix("routing/") ? String(path.dropFirst("routing/".count)) : path
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Resources/routing-data").appendingPathComponent(relative)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw TestDataError("the routing test data is not at \(url.path)")
        }
        return url
    }

    /// `../shared/data/routing/test`: 4,667 prompts of public sets, drawn from tasks, templates,
    /// documents and languages the training split does not have. Never trained or tuned on.
    static func routingTest() throws -> [LabeledPrompt] {
        var prompts: [LabeledPrompt] = []
        for task in TaskType.allCases {
            for (index, row) in try jsonLines(sharedData("routing/test/\(task.rawValue).jsonl")).enumerated() {
                guard let text = row["prompt"] as? String, row["task_type"] as? String == task.rawValue else {
                    throw TestDataError("routing/test/\(task.rawValue).jsonl: row \(index) has no prompt or another type")
                }
                prompts.append(
                    LabeledPrompt(
                        id: "test/\(task.rawValue)/\(index)",
                        task: task,
                        difficulty: nil,
                        messages: [ChatMessage(role: "user", content: text)]
                    )
                )
            }
        }
        return prompts
    }

    /// MT-Bench and Vicuna questions (FastChat, Apache-2.0; Resources/public-prompts, the same bytes
    /// as `../shared/data/prompts`, so this floor needs nothing outside the repository), first turn
    /// only, labelled by their README's category mapping. Never used for training or tuning.
    static func publicSet() throws -> [LabeledPrompt] {
        let mapping: [String: TaskType] = [
            "coding": .code, "math": .math, "reasoning": .reasoning, "fermi": .reasoning,
            "counterfactual": .reasoning, "common-sense": .reasoning, "extraction": .extraction,
            "writing": .creative, "roleplay": .creative, "stem": .qa, "humanities": .qa, "knowledge": .qa,
            "generic": .chat,
        ]
        var prompts: [LabeledPrompt] = []
        for name in ["mt_bench_questions", "vicuna_bench_questions"] {
            for row in try jsonLines(resource("public-prompts/\(name).jsonl")) {
                let category = row["category"] as? String ?? ""
                guard let task = mapping[category], let first = (row["turns"] as? [String])?.first else {
                    throw TestDataError("\(name): unmapped category \"\(category)\"")
                }
                prompts.append(
                    LabeledPrompt(
                        id: "\(name)-\(row["question_id"] ?? "")",
                        task: task,
                        difficulty: nil,
                        messages: [ChatMessage(role: "user", content: first)]
                    )
                )
            }
        }
        return prompts
    }

    static func resource(_ path: String) throws -> URL {
        guard let root = Bundle.module.url(forResource: "Resources", withExtension: nil) else {
            throw TestDataError("test resources are missing")
        }
        return root.appendingPathComponent(path)
    }

    static func jsonLines(_ url: URL) throws -> [[String: Any]] {
        // Split on line-feed bytes only: prompts may hold U+2028 and other separators inside
        // strings, and a byte split is fast on the multi-megabyte files.
        let data = try Data(contentsOf: url)
        return try data.split(separator: 0x0A).map { line in
            guard let row = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                throw TestDataError("\(url.lastPathComponent): a line is not an object")
            }
            return row
        }
    }

    private static func XCTUnwrapTask(_ name: String?) throws -> TaskType {
        guard let name, let task = TaskType(rawValue: name) else {
            throw TestDataError("unknown task \(name ?? "nil")")
        }
        return task
    }
}

struct TestDataError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The trivial baseline the classifier must beat: ordered keyword rules on the last user turn.
enum KeywordBaseline {
    static let rules: [(TaskType, [String])] = [
        (.translation, ["translate", "traduc", "übersetz", "переведите", "in english", "how do you say"]),
        (.summarization, ["summar", "tl;dr", "condense", "gist", "recap"]),
        (.classification, ["classify", "categor", "sentiment", "label"]),
        (.extraction, ["extract", "pull out", "list all", "find all"]),
        (.code, ["```", "function", "code", "python", "javascript", "sql", "bug", "implement", "program"]),
        (.math, ["solve", "calculate", "equation", "integral", "probability", "prove", "compute"]),
        (.creative, ["write a", "story", "poem", "haiku", "compose", "draft", "pretend"]),
        (.reasoning, ["puzzle", "riddle", "estimate", "what if", "would happen", "logic", "suppose"]),
        (.qa, ["what ", "who ", "when ", "where ", "why ", "how does", "explain"]),
    ]

    static func classify(_ messages: [ChatMessage]) -> TaskType {
        let text = (messages.last { $0.role == "user" } ?? messages.last)?.content.lowercased() ?? ""
        for (task, keywords) in rules where keywords.contains(where: text.contains) {
            return task
        }
        return .chat
    }
}
