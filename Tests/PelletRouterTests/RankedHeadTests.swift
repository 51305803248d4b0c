import PelletWire
import XCTest

@testable import PelletRouter

/// A decision picks its primary and fallbacks without sorting every candidate
/// (`Router.rankedHead`): it must give exactly what sorting them all and walking the ranking
/// gives, for every preference, floor and tolerance, with ties in every field but the last
/// tie-break, and with degraded candidates.
final class RankedHeadTests: XCTestCase {
    /// The ranking's head as the router took it before: sort all, then walk.
    private func headBySorting(
        _ candidates: [Candidate], ranking: Ranking, limit: Int, otherModels: Bool
    ) -> (primary: Candidate, fallbacks: [Candidate]) {
        let ranked = candidates.sorted { ranking.ranksBefore($0, $1) }
        let primary = ranked[0]
        var fallbacks: [Candidate] = []
        for candidate in ranked.dropFirst() where candidate.modelIndex == primary.modelIndex {
            guard fallbacks.count < limit else { break }
            fallbacks.append(candidate)
        }
        if otherModels {
            for position in ranked.indices.dropFirst() {
                let modelIndex = ranked[position].modelIndex
                guard !ranked[..<position].contains(where: { $0.modelIndex == modelIndex }) else { continue }
                guard fallbacks.count < limit else { break }
                fallbacks.append(ranked[position])
            }
        }
        return (primary, fallbacks)
    }

    private func pair(_ candidate: Candidate) -> [Int] { [candidate.modelIndex, candidate.provider] }

    func testTheHeadIsTheHeadOfAFullSort() {
        var random = SplitMix64(seed: 17)
        let preferences: [Preference] = [.balanced, .cost, .quality, .latency]
        var checked = 0
        for round in 0..<4_000 {
            let modelCount = 1 + Int(random.next() % 17)
            let providerCount = 1 + Int(random.next() % 4)
            var candidates: [Candidate] = []
            for model in 0..<modelCount {
                for provider in 0..<providerCount where random.next() % 4 != 0 {
                    // Few distinct values, so that every tie-break is reached.
                    candidates.append(
                        Candidate(
                            modelIndex: model,
                            nameRank: modelCount - 1 - model,
                            provider: provider,
                            score: [0.5, 0.6, 0.7, 0.8][Int(random.next() % 4)],
                            costNumerator: UInt64(1 + random.next() % 3) * 1_000_000,
                            latencyMs: [100, 200][Int(random.next() % 2)],
                            degraded: random.next() % 5 == 0
                        ))
                }
            }
            guard !candidates.isEmpty else { continue }
            let preference = preferences[round % preferences.count]
            let ranking = Ranking(
                preference: preference,
                floor: [0.55, 0.65, 0.75][Int(random.next() % 3)],
                balancedMargin: 0.05,
                floorFirst: preference != .quality && random.next() % 2 == 0,
                nearBest: 0.7,
                tolerant: preference == .quality && random.next() % 2 == 0
            )
            let limit = Int(random.next() % 6)
            let otherModels = random.next() % 3 != 0
            let expected = headBySorting(candidates, ranking: ranking, limit: limit, otherModels: otherModels)
            let actual = Router.rankedHead(
                of: candidates, ranking: ranking, modelCount: modelCount, limit: limit, otherModels: otherModels)
            XCTAssertEqual(pair(actual.primary), pair(expected.primary), "round \(round)")
            XCTAssertEqual(actual.fallbacks.map(pair), expected.fallbacks.map(pair), "round \(round)")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 3_000)
    }
}

/// A small seeded generator, so a failure names a round that can be run again.
private struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
