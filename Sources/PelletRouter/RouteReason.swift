import PelletWire

/// The one readable sentence that explains a decision, e.g. "code task (medium, difficulty 0.21);
/// cheapest model meeting the code quality floor 0.70 for a medium prompt: nemotron-3.5-lightning
/// on fireworks at $0.000206".
///
/// Every Route and Complete call builds one, so it is written into one byte buffer, numbers
/// formatted in place: no intermediate strings.
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
        var text = Text()
        let task = context.task.rawValue
        // The opening: "code task (medium, difficulty 0.21)", or "(from task_hint, medium, ...)".
        text.add(task)
        text.add(context.taskFromHint ? " task (from task_hint, " : " task (")
        text.add(context.difficulty.rawValue)
        text.add(", difficulty ")
        text.add(decimal: Double(context.difficultyScore))
        text.add(")")

        if explicit {
            text.add("; requested model ")
            text.add(model)
            text.add(" on ")
            text.add(provider)
            if providerCount == 1 {
                text.add(", its only available provider")
            } else {
                switch context.preference {
                case .cost, .balanced: text.add(", the cheapest")
                case .quality: text.add(", the cheapest (quality is the model's own)")
                case .latency:
                    text.add(", the fastest, about ")
                    text.add(milliseconds: primary.latencyMs)
                    text.add(" for ")
                    text.add(integer: Int(context.maxTokens))
                    text.add(" tokens,")
                }
                text.add(" of its ")
                text.add(integer: providerCount)
                text.add(" available providers")
            }
            text.add(", at ")
            text.add(dollars: primary.cost)
        } else if !meetsFloor {
            text.add("; no available model meets the ")
            text.add(task)
            text.add(" quality floor ")
            text.add(decimal: context.floor)
            text.add(", so the best available: ")
            text.addModel(model, on: provider, score: primary.score)
            text.add(" at ")
            text.add(dollars: primary.cost)
        } else {
            switch context.preference {
            case .cost:
                text.add("; cheapest model meeting the ")
                text.addFloor(task: task, floor: context.floor, difficulty: context.difficulty)
                text.add(model)
                text.add(" on ")
                text.add(provider)
            case .quality where tolerance > 0 && primary.score < bestScore:
                text.add("; cheapest model within ")
                text.add(decimal: tolerance)
                text.add(" of the best ")
                text.add(task)
                text.add(" quality ")
                text.add(decimal: bestScore)
                text.addPrompt(context.difficulty)
                text.addModel(model, on: provider, score: primary.score)
            case .quality:
                text.add("; best ")
                text.add(task)
                text.add(" quality (score ")
                text.add(decimal: primary.score)
                text.add("): ")
                text.add(model)
                text.add(" on ")
                text.add(provider)
            case .latency:
                text.add("; fastest model meeting the ")
                text.addFloor(task: task, floor: context.floor, difficulty: context.difficulty)
                text.add(model)
                text.add(" on ")
                text.add(provider)
                text.add(", about ")
                text.add(milliseconds: primary.latencyMs)
                text.add(" for ")
                text.add(integer: Int(context.maxTokens))
                text.add(" tokens,")
            case .balanced:
                text.add("; best quality per dollar above the ")
                text.add(task)
                text.add(" floor ")
                text.add(decimal: context.floor)
                text.addPrompt(context.difficulty)
                text.add(model)
                text.add(" on ")
                text.add(provider)
                text.add(" (score ")
                text.add(decimal: primary.score)
                text.add(")")
            }
            text.add(" at ")
            text.add(dollars: primary.cost)
        }
        if primary.degraded {
            text.add(" (")
            text.add(provider)
            text.add(" is degraded; no healthy candidate qualified)")
        }
        return text.string
    }

    /// Micro-USD as dollars with six decimals: 412 → "$0.000412". No Foundation formatting, so the
    /// text is the same on every platform and locale.
    static func dollars(_ microUSD: UInt64) -> String {
        var text = Text()
        text.add(dollars: microUSD)
        return text.string
    }

    /// Two decimals: 0.7 → "0.70".
    static func decimal(_ value: Double) -> String {
        var text = Text()
        text.add(decimal: value)
        return text.string
    }

    static func milliseconds(_ value: Double) -> String {
        var text = Text()
        text.add(milliseconds: value)
        return text.string
    }

    /// The sentence's UTF-8 bytes, appended in order.
    struct Text {
        private var bytes: [UInt8] = []

        init() {
            bytes.reserveCapacity(256)
        }

        var string: String { String(decoding: bytes, as: UTF8.self) }

        mutating func add(_ part: String) {
            bytes.append(contentsOf: part.utf8)
        }

        /// "code quality floor 0.70 for a medium prompt: "
        mutating func addFloor(task: String, floor: Double, difficulty: Difficulty) {
            add(task)
            add(" quality floor ")
            add(decimal: floor)
            addPrompt(difficulty)
        }

        /// " for a medium prompt: " ("an" before "easy").
        mutating func addPrompt(_ difficulty: Difficulty) {
            add(difficulty == .easy ? " for an " : " for a ")
            add(difficulty.rawValue)
            add(" prompt: ")
        }

        /// "model on provider (score 0.81)"
        mutating func addModel(_ model: String, on provider: String, score: Double) {
            add(model)
            add(" on ")
            add(provider)
            add(" (score ")
            add(decimal: score)
            add(")")
        }

        /// As `String(value)`.
        mutating func add(integer value: Int) {
            if value < 0 { bytes.append(UInt8(ascii: "-")) }
            add(digits: value.magnitude, minimumCount: 1)
        }

        /// `value` in decimal, zero-padded on the left to `minimumCount` digits.
        mutating func add(digits value: UInt, minimumCount: Int) {
            // UInt.max has 20 digits.
            var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)
            withUnsafeMutableBytes(of: &scratch) { buffer in
                var remaining = value
                var index = buffer.count
                repeat {
                    index -= 1
                    buffer[index] = UInt8(ascii: "0") + UInt8(remaining % 10)
                    remaining /= 10
                } while remaining > 0 || buffer.count - index < minimumCount
                bytes.append(contentsOf: buffer[index...])
            }
        }

        /// Micro-USD as "$0.000412".
        mutating func add(dollars microUSD: UInt64) {
            bytes.append(UInt8(ascii: "$"))
            add(digits: UInt(microUSD / 1_000_000), minimumCount: 1)
            bytes.append(UInt8(ascii: "."))
            add(digits: UInt(microUSD % 1_000_000), minimumCount: 6)
        }

        /// Two decimals: 0.7 → "0.70", rounded to the nearest hundredth.
        mutating func add(decimal value: Double) {
            let hundredths = Int((value * 100).rounded())
            guard hundredths >= 0 else {
                // Never a score, floor or difficulty; kept as the plain formatting writes it.
                add("\(hundredths / 100)." + (String(hundredths % 100).count == 1 ? "0" : "") + String(hundredths % 100))
                return
            }
            add(digits: UInt(hundredths / 100), minimumCount: 1)
            bytes.append(UInt8(ascii: "."))
            add(digits: UInt(hundredths % 100), minimumCount: 2)
        }

        /// "850 ms", or "12 s" from 10 seconds.
        mutating func add(milliseconds value: Double) {
            if value >= 10_000 {
                add(integer: Int((value / 1000).rounded()))
                add(" s")
            } else {
                add(integer: Int(value.rounded()))
                add(" ms")
            }
        }
    }
}
