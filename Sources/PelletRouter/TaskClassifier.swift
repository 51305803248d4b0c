import Foundation
import PelletWire

/// The classifier's verdict on a conversation.
public struct TaskClassification: Sendable, Equatable {
    public var task: TaskType
    /// The model's probability for `task`, 0...1.
    public var confidence: Float
    /// The estimated probability that a small, cheap model answers this prompt worse than a
    /// frontier model (trained on RouteLLM's MMLU labels), 0...1.
    public var difficultyScore: Float
    /// `difficultyScore` in three steps, which pick the quality floor (`RoutingPolicy.floors`).
    public var difficulty: Difficulty
    /// Raw scores: lanes 0–9 are the task types in `TaskType.allCases` order (softmax logits),
    /// lane 10 the difficulty score. For diagnostics and for the test that checks these against
    /// the Python trainer's.
    public var scores: SIMD16<Float>

    public init(
        task: TaskType,
        confidence: Float,
        difficultyScore: Float,
        difficulty: Difficulty,
        scores: SIMD16<Float>
    ) {
        self.task = task
        self.confidence = confidence
        self.difficultyScore = difficultyScore
        self.difficulty = difficulty
        self.scores = scores
    }
}

/// Assigns a conversation a task type, a confidence and a difficulty, in microseconds.
///
/// A linear model (multinomial logistic regression) over hashed word unigrams and bigrams, word
/// byte trigrams, words at a message's edges (where the instruction usually is; normalised by
/// their own count, so a long passage does not drown them), symbol counts, per-task cue-word
/// counts in the whole message and at its edges, and a few shape features, trained offline by
/// `tools/router-data/train_classifier.py` on public task-labelled prompts and Pellet's own. The
/// difficulty is a logistic regression over the same shape features, the share of long words,
/// two cue families of its own (questions in several parts; answers held to stated limits) and
/// the task probabilities, trained on RouteLLM's MMLU labels. One pass over each message's UTF-8
/// bytes, no allocation: every feature is a table lookup added into one `SIMD16<Float>`. The last
/// user turn weighs most, then the system prompt; earlier turns count a little.
///
/// The feature definitions must match `tools/router-data/features.py` exactly; the parity test
/// (`ClassifierParityTests`) compares this type's scores with the trainer's.
public struct TaskClassifier: Sendable {
    static let weightLastUser: Float = 1.0
    static let weightSystem: Float = 0.6
    static let weightEarlierUser: Float = 0.35
    static let weightOther: Float = 0.15

    let model: ClassifierModel

    public init() {
        self.model = .generated
    }

    public func classify(_ messages: [ChatMessage]) -> TaskClassification {
        let (logits, shape, cues) = self.features(messages)
        var best = 0
        for lane in 1..<TaskType.count where logits[lane] > logits[best] { best = lane }
        var probabilities = SIMD16<Float>()
        var total: Float = 0
        for lane in 0..<TaskType.count {
            probabilities[lane] = expf(logits[lane] - logits[best])
            total += probabilities[lane]
        }
        probabilities /= total
        let z =
            model.difficultyBias + (shape * model.difficultyShape).sum() + (cues * model.difficultyCues).sum()
            + (probabilities * model.difficultyTasks).sum()
        let difficultyScore = 1 / (1 + expf(-z))
        var scores = logits
        scores[ClassifierModel.difficultyLane] = difficultyScore
        return TaskClassification(
            task: TaskType.byIndex[best],
            confidence: probabilities[best],
            difficultyScore: difficultyScore,
            difficulty: model.difficulty(of: difficultyScore),
            scores: scores
        )
    }

    /// The task logits, the nine shape features and the ten cue features (features.py's dense
    /// features, split in two vectors), with the difficulty score's own features in the lanes
    /// after them (the long-word share in shape lane 9, the difficulty cue families in cue lanes
    /// 10 and 11).
    func features(_ messages: [ChatMessage]) -> (logits: SIMD16<Float>, shape: SIMD16<Float>, cues: SIMD16<Float>) {
        var lastUser = messages.count - 1
        for index in messages.indices.reversed() where messages[index].role == "user" {
            lastUser = index
            break
        }
        var totals = Totals()
        var hasSystem = false
        var lastUserBytes = 0
        var endsWithQuestion = false
        model.table.withUnsafeBufferPointer { table in
            for index in messages.indices {
                let role = messages[index].role
                let weight: Float
                if index == lastUser {
                    weight = Self.weightLastUser
                } else if role == "system" {
                    weight = Self.weightSystem
                } else if role == "user" {
                    weight = Self.weightEarlierUser
                } else {
                    weight = Self.weightOther
                }
                if role == "system" { hasSystem = true }
                var content = messages[index].content
                content.withUTF8 { bytes in
                    // A long message is read at its edges only, as if that were all of it.
                    let edges = PromptEdges.of(bytes)
                    accumulate(edges.head, weight: weight, table: table, into: &totals)
                    if let tail = edges.tail { accumulate(tail, weight: weight, table: table, into: &totals) }
                    if index == lastUser {
                        lastUserBytes = edges.head.count + (edges.tail?.count ?? 0)
                        endsWithQuestion = Self.endsWithQuestionMark(edges.tail ?? edges.head)
                    }
                }
            }
        }

        let totalBytes = max(totals.bytes, 1)
        var shape = SIMD16<Float>()
        shape[0] = min(totals.fences, 1)
        shape[1] = totals.codeSymbols / totalBytes * 10
        shape[2] = totals.digits / totalBytes * 10
        shape[3] = totals.nonASCII / totalBytes
        shape[4] = totals.newlines / totalBytes * 20
        shape[5] = endsWithQuestion ? 1 : 0
        shape[6] = log1pf(Float(lastUserBytes)) / 8
        shape[7] = messages.count > 2 ? 1 : 0
        shape[8] = hasSystem ? 1 : 0
        // Read by the difficulty score only, not by the classifier.
        shape[ClassifierModel.longWordShapeLane] = totals.longWords / max(totals.words, 1) * 5
        var cues = SIMD16<Float>()
        for lane in 0..<ClassifierModel.cueLaneCount where totals.cues[lane] > 0 {
            cues[lane] = log1pf(totals.cues[lane])
        }

        var logits = model.bias + totals.features / max(totals.featureWeight, 1).squareRoot()
        if totals.edgeFeatureWeight > 0 {
            logits += totals.edgeFeatures / max(totals.edgeFeatureWeight, 1).squareRoot()
        }
        for feature in 0..<ClassifierModel.shapeFeatureCount {
            logits += shape[feature] * model.dense[feature]
        }
        for lane in 0..<TaskType.count where cues[lane] > 0 {
            logits += cues[lane] * model.dense[ClassifierModel.shapeFeatureCount + lane]
        }
        if model.edgeCues {
            for lane in 0..<TaskType.count where totals.edgeCues[lane] > 0 {
                logits += log1pf(totals.edgeCues[lane]) * model.dense[ClassifierModel.denseFeatureCount + lane]
            }
        }
        return (logits, shape, cues)
    }

    private struct Totals {
        var features = SIMD16<Float>()
        var featureWeight: Float = 0
        /// Edge words, when the model normalises them apart from the rest.
        var edgeFeatures = SIMD16<Float>()
        var edgeFeatureWeight: Float = 0
        var bytes: Float = 0
        var digits: Float = 0
        var nonASCII: Float = 0
        var newlines: Float = 0
        var codeSymbols: Float = 0
        var fences: Float = 0
        var words: Float = 0
        var longWords: Float = 0
        var cues = SIMD16<Float>()
        var edgeCues = SIMD16<Float>()
    }

    private static func endsWithQuestionMark(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var index = bytes.count - 1
        while index >= 0 {
            let byte = bytes[index]
            if byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A {
                index -= 1
                continue
            }
            return byte == UInt8(ascii: "?")
        }
        return false
    }

    /// The hot loop: one message's bytes into the running totals.
    @inline(__always)
    private func accumulate(
        _ bytes: UnsafeBufferPointer<UInt8>,
        weight: Float,
        table: UnsafeBufferPointer<SIMD16<Float>>,
        into totals: inout Totals
    ) {
        let shift = UInt32(32 - model.bucketBits)
        let byteClass = ClassifierModel.byteClass
        var sum = SIMD16<Float>()
        var cues = SIMD16<Float>()
        var edgeSum = SIMD16<Float>()
        var edgeCues = SIMD16<Float>()
        var features = 0
        var edgeFeatures = 0
        var digits = 0
        var nonASCII = 0
        var newlines = 0
        var codeSymbols = 0
        var fences = 0
        var words = 0
        var longWords = 0
        var backticks = 0
        var hash = ClassifierModel.fnvOffset
        var inWord = false
        var previous: UInt32 = 0
        var hasPrevious = false
        // The word's last two bytes, for its trigrams; where it started, for the edge words.
        var trigramFirst: UInt8 = 0
        var trigramSecond: UInt8 = 0
        var wordStart = 0
        let trigrams = model.charTrigrams
        let edgeWords = model.edgeWords
        let edgeWordsApart = model.edgeWordsApart
        let edgeEnd = bytes.count - ClassifierModel.edgeWordBytes

        @inline(__always) func bucket(_ hash: UInt32) -> Int {
            Int((hash &* 2_654_435_761) >> shift)
        }

        @inline(__always) func emitTrigram(_ first: UInt8, _ second: UInt8, _ third: UInt8) {
            sum += table[bucket(ClassifierModel.trigramHash(first, second, third))]
            features += 1
        }

        // A word's unigram, its edge feature, its last trigram, its bigram with the previous
        // word, and any cue the word or the bigram is (counted again as an edge cue at an edge).
        @inline(__always) func emitWord(_ hash: UInt32, end: Int) {
            sum += table[bucket(hash)]
            features += 1
            words += 1
            if end - wordStart >= ClassifierModel.longWordBytes { longWords += 1 }
            let atEdge = wordStart < ClassifierModel.edgeWordBytes || end > edgeEnd
            if edgeWords && atEdge {
                if edgeWordsApart {
                    edgeSum += table[bucket(hash ^ ClassifierModel.edgeSalt)]
                    edgeFeatures += 1
                } else {
                    sum += table[bucket(hash ^ ClassifierModel.edgeSalt)]
                    features += 1
                }
            }
            if trigrams { emitTrigram(trigramFirst, trigramSecond, ClassifierModel.trigramFrame) }
            if let lane = model.cueLane(hash) {
                cues[lane] += 1
                if atEdge { edgeCues[lane] += 1 }
            }
            if hasPrevious {
                let pair = ClassifierModel.bigramHash(previous, hash)
                sum += table[bucket(pair)]
                features += 1
                if let lane = model.cueLane(pair) {
                    cues[lane] += 1
                    if atEdge { edgeCues[lane] += 1 }
                }
            }
        }

        for position in 0..<bytes.count {
            let raw = bytes[position]
            let flags = byteClass[Int(raw)]
            if flags & ClassifierModel.backtick != 0 {
                backticks += 1
                if backticks == 3 { fences += 1 }
            } else {
                backticks = 0
            }
            if flags & ClassifierModel.word != 0 {
                var byte = raw | (flags & ClassifierModel.upper)  // ASCII upper case: set 0x20
                if flags & ClassifierModel.digit != 0 {
                    digits += 1
                    byte = UInt8(ascii: "0")
                } else if raw >= 0x80 {
                    nonASCII += 1
                }
                hash = (hash ^ UInt32(byte)) &* ClassifierModel.fnvPrime
                if !inWord {
                    wordStart = position
                    trigramFirst = ClassifierModel.trigramFrame
                } else {
                    if trigrams { emitTrigram(trigramFirst, trigramSecond, byte) }
                    trigramFirst = trigramSecond
                }
                trigramSecond = byte
                inWord = true
                continue
            }
            if inWord {
                emitWord(hash, end: position)
                previous = hash
                hasPrevious = true
                hash = ClassifierModel.fnvOffset
                inWord = false
            }
            if flags & ClassifierModel.newline != 0 { newlines += 1 }
            if flags & ClassifierModel.codeSymbol != 0 { codeSymbols += 1 }
            if flags & ClassifierModel.symbol != 0 {
                sum += table[Int(model.symbolBuckets[Int(raw)])]
                features += 1
            }
        }
        if inWord { emitWord(hash, end: bytes.count) }

        totals.features += weight * sum
        totals.featureWeight += weight * Float(features)
        totals.edgeFeatures += weight * edgeSum
        totals.edgeFeatureWeight += weight * Float(edgeFeatures)
        totals.edgeCues += weight * edgeCues
        totals.bytes += weight * Float(bytes.count)
        totals.digits += weight * Float(digits)
        totals.nonASCII += weight * Float(nonASCII)
        totals.newlines += weight * Float(newlines)
        totals.codeSymbols += weight * Float(codeSymbols)
        totals.fences += weight * Float(fences)
        totals.words += weight * Float(words)
        totals.longWords += weight * Float(longWords)
        totals.cues += weight * cues
    }
}
