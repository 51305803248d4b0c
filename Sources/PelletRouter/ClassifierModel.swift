import Foundation

/// The classifier's trained weights, decoded once from the generated file
/// (`ClassifierModel+Generated.swift`, written by `tools/router-data/train_classifier.py`).
///
/// The bucket table is stored int8-quantised per lane (base64) so the generated source stays
/// small and compiles fast; it is expanded here into one `SIMD16<Float>` per bucket.
struct ClassifierModel: Sendable {
    /// The lane of `TaskClassification.scores` that carries the difficulty score.
    static let difficultyLane = 10
    /// Nine shape features, then one cue count per task type (features.py DENSE_NAMES); with
    /// `edgeCues`, ten edge-cue counts follow them in `dense`.
    static let denseFeatureCount = 19
    static let shapeFeatureCount = 9
    /// The difficulty score's own features after the dense ones (features.py DIFFICULTY_NAMES):
    /// the long-word share (lane 9 of the shape vector) and one cue count per difficulty cue
    /// family (lanes 10 and 11 of the cue vector, after the ten task types).
    static let difficultyExtraCount = 3
    static let longWordShapeLane = 9
    static let difficultyCueFamilies = 2
    /// Cue lanes: the ten task types, then the difficulty cue families (features.py
    /// DIFFICULTY_CUES).
    static let cueLaneCount = TaskType.count + difficultyCueFamilies
    /// A word of at least this many bytes counts as long (features.py LONG_WORD_BYTES).
    static let longWordBytes = 9
    static let storedLanes = 10

    static let fnvOffset: UInt32 = 2_166_136_261
    static let fnvPrime: UInt32 = 16_777_619
    /// A word's trigrams frame it with this byte on both sides (features.py TRIGRAM_FRAME).
    static let trigramFrame: UInt8 = 0x01
    static let trigramSeed: UInt8 = 0xFE
    /// A word starting in a message's first, or ending in its last, this many bytes also adds
    /// an edge feature (features.py EDGE_WORD_BYTES, EDGE_SALT).
    static let edgeWordBytes = 96
    static let edgeSalt: UInt32 = 0x5BD1_E995

    // Byte classes for the hot loop: one table lookup per byte.
    static let word: UInt8 = 0x01
    static let digit: UInt8 = 0x02
    static let symbol: UInt8 = 0x04
    static let codeSymbol: UInt8 = 0x08
    static let newline: UInt8 = 0x10
    /// Set on 'A'...'Z' and equal to the bit that lower-cases them.
    static let upper: UInt8 = 0x20
    static let backtick: UInt8 = 0x40

    /// Bytes that add a symbol feature (features.py SYMBOLS).
    static let symbolBytes = Array("{}[]();=<>+*/^$#?!:\"'`|&%@\\_~-".utf8)
    /// Bytes counted for the code-symbol ratio (features.py CODE_SYMBOLS).
    static let codeSymbolBytes = Array("{}[]();=<>".utf8)

    static let byteClass: [UInt8] = {
        var classes = [UInt8](repeating: 0, count: 256)
        for byte in 0..<256 {
            var flags: UInt8 = 0
            switch byte {
            case 0x61...0x7A: flags |= word
            case 0x41...0x5A: flags |= word | upper
            case 0x30...0x39: flags |= word | digit
            case 0x80...0xFF: flags |= word
            default: break
            }
            if symbolBytes.contains(UInt8(byte)) { flags |= symbol }
            if codeSymbolBytes.contains(UInt8(byte)) { flags |= codeSymbol }
            if byte == 0x0A { flags |= newline }
            if byte == 0x60 { flags |= backtick }
            classes[byte] = flags
        }
        return classes
    }()

    /// FNV-1a over (seed, a, b, c): features.py trigram_hash.
    @inline(__always)
    static func trigramHash(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> UInt32 {
        var hash = (fnvOffset ^ UInt32(trigramSeed)) &* fnvPrime
        hash = (hash ^ UInt32(a)) &* fnvPrime
        hash = (hash ^ UInt32(b)) &* fnvPrime
        return (hash ^ UInt32(c)) &* fnvPrime
    }

    @inline(__always)
    static func bigramHash(_ previous: UInt32, _ current: UInt32) -> UInt32 {
        ((previous &* 31) &+ current) ^ 0x9E37_79B9
    }

    let bucketBits: Int
    let charTrigrams: Bool
    let edgeWords: Bool
    /// Per task, the cue words in a message's edges as ten more dense features (features.py
    /// `edge_cues`).
    let edgeCues: Bool
    /// Edge words normalised by their own count rather than the whole prompt's (features.py
    /// `edge_norm`).
    let edgeWordsApart: Bool
    let table: [SIMD16<Float>]
    let bias: SIMD16<Float>
    let dense: [SIMD16<Float>]
    /// The difficulty's logistic regression: weights on the shape features (and the long-word
    /// share), the cue features (task types and difficulty families) and the task probabilities,
    /// and its bias.
    let difficultyShape: SIMD16<Float>
    let difficultyCues: SIMD16<Float>
    let difficultyTasks: SIMD16<Float>
    let difficultyBias: Float
    /// Scores below `easyBelow` are easy, from `hardFrom` on hard, medium between.
    let easyBelow: Float
    let hardFrom: Float
    /// The bucket of each symbol byte's feature (0 for bytes that are not symbols).
    let symbolBuckets: [Int32]
    /// A stable hash of the weights, part of `policy_version`: retraining changes decisions.
    let fingerprint: UInt64
    /// Cue words (features.py CUES) by hash: open addressing, 0 marks an empty slot.
    let cueSlots: [UInt32]
    let cueSlotLanes: [UInt8]
    let cueShift: UInt32

    init(
        bucketBits: Int,
        charTrigrams: Bool,
        edgeWords: Bool,
        edgeCues: Bool,
        edgeWordsApart: Bool,
        laneScales: [Float],
        bias: [Float],
        dense: [[Float]],
        difficultyWeights: [Float],
        difficultyBias: Float,
        difficultyThresholds: (easyBelow: Float, hardFrom: Float),
        cueHashes: [UInt32],
        cueLanes: [UInt8],
        quantizedTable: String
    ) {
        precondition(laneScales.count == Self.storedLanes && bias.count == Self.storedLanes)
        precondition(
            dense.count == Self.denseFeatureCount + (edgeCues ? TaskType.count : 0)
                && dense.allSatisfy { $0.count == Self.storedLanes }
        )
        precondition(difficultyWeights.count == Self.denseFeatureCount + Self.difficultyExtraCount + TaskType.count)
        guard let raw = Data(base64Encoded: quantizedTable, options: .ignoreUnknownCharacters),
            raw.count == (1 << bucketBits) * Self.storedLanes
        else {
            // The generated file is checked by the tests; a mismatch here is a build defect.
            fatalError("ClassifierModel+Generated.swift: the weight table does not match bucketBits \(bucketBits)")
        }
        func lanes(_ values: [Float]) -> SIMD16<Float> {
            var vector = SIMD16<Float>()
            for (lane, value) in values.enumerated() { vector[lane] = value }
            return vector
        }
        let scales = lanes(laneScales)
        var table: [SIMD16<Float>] = []
        table.reserveCapacity(1 << bucketBits)
        let quantized = [UInt8](raw)
        for bucket in 0..<(1 << bucketBits) {
            var vector = SIMD16<Float>()
            for lane in 0..<Self.storedLanes {
                vector[lane] = Float(Int8(bitPattern: quantized[bucket * Self.storedLanes + lane]))
            }
            table.append(vector * scales)
        }
        var fingerprint = StableHash.fnv1a64(quantizedTable.utf8)
        let difficultyValues = difficultyWeights + [difficultyBias, difficultyThresholds.easyBelow, difficultyThresholds.hardFrom]
        let flags: [Float] = [charTrigrams ? 1 : 0, edgeWords ? 1 : 0, edgeCues ? 1 : 0, edgeWordsApart ? 1 : 0]
        for value in laneScales + bias + dense.flatMap({ $0 }) + difficultyValues + flags {
            fingerprint = StableHash.fnv1a64(
                withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) },
                seed: fingerprint
            )
        }
        self.fingerprint = fingerprint
        self.bucketBits = bucketBits
        self.charTrigrams = charTrigrams
        self.edgeWords = edgeWords
        self.edgeCues = edgeCues
        self.edgeWordsApart = edgeWordsApart
        self.table = table
        self.bias = lanes(bias)
        self.dense = dense.map(lanes)
        // difficultyWeights follows difficulty.py's design(): 9 shape, 10 task cues, the long-word
        // share, the difficulty cue families, 10 task probabilities.
        let extras = Self.denseFeatureCount
        let tasks = extras + Self.difficultyExtraCount
        self.difficultyShape = lanes(Array(difficultyWeights[0..<Self.shapeFeatureCount]) + [difficultyWeights[extras]])
        self.difficultyCues = lanes(
            Array(difficultyWeights[Self.shapeFeatureCount..<Self.denseFeatureCount])
                + Array(difficultyWeights[(extras + 1)..<tasks])
        )
        self.difficultyTasks = lanes(Array(difficultyWeights[tasks...]))
        self.difficultyBias = difficultyBias
        self.easyBelow = difficultyThresholds.easyBelow
        self.hardFrom = difficultyThresholds.hardFrom
        var symbolBuckets = [Int32](repeating: 0, count: 256)
        for byte in Self.symbolBytes {
            var hash = Self.fnvOffset
            for part in [UInt8(0xFF), byte] { hash = (hash ^ UInt32(part)) &* Self.fnvPrime }
            symbolBuckets[Int(byte)] = Int32((hash &* 2_654_435_761) >> UInt32(32 - bucketBits))
        }
        self.symbolBuckets = symbolBuckets

        // At most a quarter full, so a miss (nearly every word) usually ends at the first slot.
        precondition(cueHashes.count == cueLanes.count && !cueHashes.contains(0))
        var slotBits = 4
        while (1 << slotBits) < cueHashes.count * 4 { slotBits += 1 }
        let cueShift = UInt32(32 - slotBits)
        var slots = [UInt32](repeating: 0, count: 1 << slotBits)
        var slotLanes = [UInt8](repeating: 0, count: 1 << slotBits)
        for (hash, lane) in zip(cueHashes, cueLanes) {
            var slot = Int((hash &* 2_654_435_761) >> cueShift)
            while slots[slot] != 0 { slot = (slot + 1) & (slots.count - 1) }
            slots[slot] = hash
            slotLanes[slot] = lane
        }
        self.cueSlots = slots
        self.cueSlotLanes = slotLanes
        self.cueShift = cueShift
    }

    func difficulty(of score: Float) -> Difficulty {
        score < easyBelow ? .easy : score >= hardFrom ? .hard : .medium
    }

    /// The task lane a word or bigram hash is a cue for, or nil.
    @inline(__always)
    func cueLane(_ hash: UInt32) -> Int? {
        var slot = Int((hash &* 2_654_435_761) >> cueShift)
        while true {
            let key = cueSlots[slot]
            if key == hash { return Int(cueSlotLanes[slot]) }
            if key == 0 { return nil }
            slot = (slot + 1) & (cueSlots.count - 1)
        }
    }
}
