import PelletWire

/// The one readable sentence that explains a decision, e.g. "code task (medium, difficulty 0.21);
/// cheapest model meeting the code quality floor 0.70 for a medium prompt: nemotron-3.5-lightning
/// on fireworks at $0.000206".
enum RouteReason {
    static func sentence(
        for primary: Candidate,
        modelID model: String,
        providerName provider: String,
        context: DecisionContext,
        explicit: Bool,
        meetsFloor: Bool,
        bestScore: Double,
        tolerance: Double,
        providerCount: Int
    ) -> String {
        let task = context.task.rawValue
        let level = "\(context.difficulty), difficulty \(decimal(Double(context.difficultyScore)))"
        let opening =
            context.taskFromHint
            ? "\(task) task (from task_hint, \(level))"
            : "\(task) task (\(level))"
        let prompt = "for a\(context.difficulty == .easy ? "n" : "") \(context.difficulty) prompt"
        let price = dollars(primary.cost)
        let floor = decimal(context.floor)
        let score = decimal(primary.score)
        var sentence: String
        if explicit {
            let choice: String
            switch context.preference {
            case .cost, .balanced: choice = "the cheapest"
            case .quality: choice = "the cheapest (quality is the model's own)"
            case .latency:
                choice = "the fastest, about \(milliseconds(primary.latencyMs)) for \(context.maxTokens) tokens,"
            }
            let providers =
                providerCount == 1
                ? "its only available provider" : "\(choice) of its \(providerCount) available providers"
            sentence = "\(opening); requested model \(model) on \(provider), \(providers), at \(price)"
        } else if !meetsFloor {
            sentence =
                "\(opening); no available model meets the \(task) quality floor \(floor), so the best available: "
                + "\(model) on \(provider) (score \(score)) at \(price)"
        } else {
            switch context.preference {
            case .cost:
                sentence =
                    "\(opening); cheapest model meeting the \(task) quality floor \(floor) \(prompt): \(model) on \(provider) at \(price)"
            case .quality where tolerance > 0 && primary.score < bestScore:
                sentence =
                    "\(opening); cheapest model within \(decimal(tolerance)) of the best \(task) quality "
                    + "\(decimal(bestScore)) \(prompt): \(model) on \(provider) (score \(score)) at \(price)"
            case .quality:
                sentence = "\(opening); best \(task) quality (score \(score)): \(model) on \(provider) at \(price)"
            case .latency:
                sentence =
                    "\(opening); fastest model meeting the \(task) quality floor \(floor) \(prompt): \(model) on \(provider), "
                    + "about \(milliseconds(primary.latencyMs)) for \(context.maxTokens) tokens, at \(price)"
            case .balanced:
                sentence =
                    "\(opening); best quality per dollar above the \(task) floor \(floor) \(prompt): \(model) on \(provider) "
                    + "(score \(score)) at \(price)"
            }
        }
        if primary.degraded { sentence += " (\(provider) is degraded; no healthy candidate qualified)" }
        return sentence
    }

    /// Micro-USD as dollars with six decimals: 412 → "$0.000412". No Foundation formatting, so the
    /// text is the same on every platform and locale.
    static func dollars(_ microUSD: UInt64) -> String {
        let fraction = String(microUSD % 1_000_000)
        return "$\(microUSD / 1_000_000)." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }

    /// Two decimals: 0.7 → "0.70".
    static func decimal(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        let fraction = String(hundredths % 100)
        return "\(hundredths / 100)." + (fraction.count == 1 ? "0" : "") + fraction
    }

    static func milliseconds(_ value: Double) -> String {
        value >= 10_000 ? "\(Int((value / 1000).rounded())) s" : "\(Int(value.rounded())) ms"
    }
}
