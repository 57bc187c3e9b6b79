import ArgumentParser
import Foundation
import Logging
import SecureCrypto
import Strongroom

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Walk through a vault's life on tier 1, then a 2-of-3 FROST group across the tiers at hand.",
        discussion: """
            Part 1 runs on tier 1 in a fresh directory. Part 2 makes a 2-of-3 FROST(Ed25519) group: \
            participant 1 on tier 1; participant 2 on tier 3 when STRONGROOM_HSM_MODULE and STRONGROOM_HSM_TOKEN \
            name a token (PIN in STRONGROOM_HSM_PIN), else tier 1; participant 3 on tier 2 when \
            STRONGROOM_DEMO_S3_ENDPOINT and STRONGROOM_DEMO_S3_BUCKET name an S3/KMS endpoint (credentials \
            in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), else tier 1. It signs, rotates every wrapping key, \
            refreshes the shares, signs again and erases, then removes everything it made.
            """)

    @Option(name: .long, help: "Directory to create the demo vault in (default: a new temporary directory, removed afterwards).")
    var dir: String?

    @Option(name: .long, help: "Log level.")
    var logLevel: Logger.Level = .warning

    func run() async throws {
        try await Terminal.run {
            LoggingSetup.bootstrap(level: logLevel)
            let logger = Logger(label: "strongroom.demo")
            let base = dir ?? "\(FileManager.default.temporaryDirectory.path)/strongroom-demo-\(UUID().uuidString)"
            let removeAfterwards = dir == nil
            defer { if removeAfterwards { try? FileManager.default.removeItem(atPath: base) } }
            let settings = StrongroomConfiguration.Local(path: "\(base)/vault")
            var timings: [(String, Duration)] = []
            let clock = ContinuousClock()
            func step<T>(_ name: String, _ body: () async throws -> T) async throws -> T {
                let start = clock.now
                let result = try await body()
                timings.append((name, clock.now - start))
                return result
            }

            print("Strongroom demo — tier 1 (local) in \(settings.path)\n")
            let vault = try await step("init") { try await LocalVault.initialise(settings, logger: logger) }
            print("1. created vault \(vault) with a fresh 32-byte root seed (0600) at \(settings.rootSeedFile)")
            let store = try await LocalVault.open(settings, logger: logger)

            let parties = ["party-1", "party-2", "party-3", "party-4", "party-5"]
            var originals: [String: SecretBytes] = [:]
            try await step("store 5 shares") {
                for (index, party) in parties.enumerated() {
                    let share = try SecureRandom.secretBytes(count: 32)
                    originals[party] = share
                    _ = try await store.store(try ShareID(party), share, metadata: ["party": "\(index + 1)", "scheme": "demo"])
                }
            }
            print("2. stored \(parties.count) random 32-byte shares, each under its own data key (AES-256-GCM + AES-KW)")

            let matched = try await step("load and check 5 shares") { () async throws -> Int in
                var matched = 0
                for party in parties where try await store.load(try ShareID(party)) == originals[party]! { matched += 1 }
                return matched
            }
            print("3. loaded every share back: \(matched)/\(parties.count) byte-identical")
            guard matched == parties.count else { throw StrongroomError(.integrityCheckFailed, "demo shares did not round-trip") }

            let report = try await step("rotate wrapping key") { try await store.rotateWrappingKey() }
            print("4. rotated the wrapping key to KEK version \(report.targetVersion): \(report.rewrapped) data keys rewrapped, ciphertexts untouched")
            var stillMatch = 0
            for party in parties where try await store.load(try ShareID(party)) == originals[party]! { stillMatch += 1 }
            print("   after rotation \(stillMatch)/\(parties.count) shares still load byte-identical")

            let status = try await step("status") { try await store.status() }
            let perKEK = status.versionsPerKEKVersion.sorted { $0.key < $1.key }.map { "KEK v\($0.key): \($0.value)" }.joined(separator: ", ")
            print("5. status: \(status.shareCount) shares, \(status.versionCount) versions, \(perKEK); rotation pending: \(status.pendingRotationTarget.map { "to v\($0)" } ?? "no")")

            let victim = try ShareID("party-3")
            let erased = try await step("erase one share") { try await store.erase(victim) }
            print("6. erased '\(victim)': \(erased) version(s) overwritten and unlinked")
            do {
                _ = try await store.load(victim)
                throw StrongroomError(.integrityCheckFailed, "the erased share still loaded")
            } catch let error as StrongroomError where error.code == .shareNotFound {
                print("   loading it now fails: \(error.reason)")
            }
            let remaining = try await store.list().map(\.id.rawValue)
            print("   remaining shares: \(remaining.joined(separator: ", "))")

            try await FrostDemo(base: base, logger: logger).run { name, body in try await step(name, body) }

            print("\nTimings:")
            for (name, duration) in timings {
                print("  " + name.padding(toLength: 26, withPad: " ", startingAt: 0) + String(format: "%8.2f ms", duration.seconds * 1000))
            }
            print("\nDemo complete: init, store, load, rotate, status and erase all worked, and the FROST group signed, rotated, refreshed and erased\(removeAfterwards ? " (the demo directory was removed)" : "").")
        }
    }
}
