import StrongroomConformance
import Testing
import Strongroom
@testable import StrongroomCloud
@testable import StrongroomCore
@testable import StrongroomHSM
@testable import StrongroomLocal

/// The three tiers run the conformance product, `StrongroomConformance` (docs/conformance.md), against
/// themselves: every check, each on a fresh vault of the tier's fixture (TierFixture.swift,
/// CloudFixture.swift).
@Suite struct TierConformanceTests {
    @Test(arguments: TierConformance.Check.all)
    func local(check: TierConformance.Check) async throws {
        try await TierConformance { try await LocalFixture() }.run([check])
    }

    @Test(arguments: TierConformance.Check.all)
    func cloud(check: TierConformance.Check) async throws {
        try await TierConformance { try await CloudFixture() }.run([check])
    }

    @Test(arguments: TierConformance.Check.all)
    func hsm(check: TierConformance.Check) async throws {
        try await TierConformance { try await HSMFixture() }.run([check])
    }

    /// Every rotation crash point the old suite covered is still among the checks.
    @Test func checksCoverEveryRotationCrashPoint() {
        let points = TierConformance.Check.all.compactMap { check -> String? in
            if case .crashDuringRotation(let point) = check { "\(point)" } else { nil }
        }
        #expect(
            Set(points).isSuperset(of: [
                "rotationJournalWritten", "rotationBeforeReplace(index: 0)", "rotationAfterReplace(index: 0)",
                "rotationBeforeReplace(index: 4)", "rotationAfterReplace(index: 8)", "rotationBeforeFinish",
            ]))
        #expect(Set(TierConformance.Check.all).count == TierConformance.Check.all.count)
    }
}
