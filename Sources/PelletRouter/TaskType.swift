/// What a prompt asks for: the task types of DESIGN.md section 2, in a fixed order that the
/// classifier's weights follow.
public enum TaskType: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case code
    case math
    case reasoning
    case extraction
    case summarization
    case translation
    case classification
    case creative
    case qa
    case chat

    /// The names as they appear on the wire, in the catalogue and in `task_hint`.
    public static let names: [String] = allCases.map(\.rawValue)

    public var description: String { rawValue }

    static let count = 10
    /// `allCases` once (the synthesised `allCases` builds a new array on every use).
    static let byIndex: [TaskType] = allCases
}

/// How hard a prompt looks; sets the quality floor a model must reach for it.
public enum Difficulty: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case easy
    case medium
    case hard

    public var description: String { rawValue }

    /// Position in `allCases`.
    var index: Int {
        switch self {
        case .easy: 0
        case .medium: 1
        case .hard: 2
        }
    }
}
