import Foundation
import Testing

/// `strongroom frost refresh` killed with SIGKILL at random moments, then resumed, through the binary.
@Suite struct FrostRefreshKillCLITests {
    /// SplitMix64: a small seeded generator, so that a failing run's delays can be replayed.
    struct SeededRandom {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Participants 1 and 2 share the vault of --config, participant 3 has a vault of its own. Each
    /// round starts `frost refresh` (which first finishes or rolls back what the round before left)
    /// and kills it with SIGKILL after a seeded random delay spread over a whole refresh; then `frost
    /// info` must show the group under its original key and every pair of signers must sign. A last
    /// refresh runs to the end and must leave one version per participant and no unfinished refresh.
    /// `STRONGROOM_TEST_SEED` replays a run.
    @Test func refreshKilledAtRandomMomentsResumesAndEveryPairSigns() throws {
        let seed = ProcessInfo.processInfo.environment["STRONGROOM_TEST_SEED"].flatMap { UInt64($0) } ?? 0x5EED_F105
        var random = SeededRandom(state: seed)
        let cli = try CLI()
        defer { cli.cleanup() }
        let config = try cli.writeConfig()
        let other = try cli.writeConfig("other.yaml", "tier: local\nlocal:\n  path: \(cli.directory)/other\n")
        #expect(try cli.run(["init", "--config", config]).status == 0)
        #expect(try cli.run(["init", "--config", other]).status == 0)
        let group = ["--config", config, "--group", "escrow", "--participant-config", "3=\(other)"]
        let keygen = try cli.run(["frost", "keygen"] + group + ["--threshold", "2", "--participants", "3", "--method", "dealer"])
        #expect(keygen.status == 0, "\(keygen.stderr)")
        let groupKey = try #require(
            keygen.stdout.split(separator: "\n").first { $0.hasPrefix("group public key: ") }?.dropFirst("group public key: ".count))

        // How long a whole refresh takes here (process start included), to spread the kills over it.
        let clock = ContinuousClock()
        let started = clock.now
        let whole = try cli.run(["frost", "refresh"] + group)
        #expect(whole.status == 0, "\(whole.stderr)")
        // Kills land in the first four fifths of that time: a run on a busy machine (other builds) can
        // take longer than the measured one, but rarely shorter by a fifth, so most runs are killed.
        let span = max(Int64((clock.now - started) / .microseconds(1)) * 4 / 5, 1000)

        var killed = 0
        for round in 0..<10 {
            let delay = Int64(random.next() % UInt64(span))
            let context = "seed \(seed), round \(round), SIGKILL after \(delay) µs of \(span)"
            let run = try cli.runKilled(["frost", "refresh"] + group, after: .microseconds(delay))
            if run.killed { killed += 1 } else { #expect(run.status == 0, "\(context): refresh exited \(run.status)") }

            let info = try cli.run(["frost", "info"] + group)
            #expect(info.status == 0 && info.stdout.contains("group public key: \(groupKey)"), "\(context): \(info.stderr)")
            for signers in ["1,2", "1,3", "2,3"] {
                let message = "round \(round) by \(signers)"
                let sign = try cli.run(["frost", "sign"] + group + ["--signers", signers, "--message", message])
                #expect(sign.status == 0, "\(context): signers \(signers): \(sign.stderr)")
                guard sign.status == 0 else { continue }
                let signature = sign.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                let verify = try cli.run(["frost", "verify"] + group + ["--signature", signature, "--message", message])
                #expect(verify.status == 0, "\(context): signers \(signers): \(verify.stderr)")
            }
        }
        #expect(killed >= 5, "seed \(seed): only \(killed) of 10 refreshes were killed before they finished")

        let last = try cli.run(["frost", "refresh"] + group)
        #expect(last.status == 0, "seed \(seed): \(last.stderr)")
        let info = try cli.run(["frost", "info"] + group)
        #expect(info.status == 0 && !info.stdout.contains("has not finished"), "seed \(seed): \(info.stdout)")
        #expect(info.stdout.contains("group public key: \(groupKey)"))
        for (participant, vaultConfig) in [(1, config), (2, config), (3, other)] {
            let versions = try cli.run(["versions", "--config", vaultConfig, "frost.escrow.p\(participant)"])
            // A header line and one version.
            #expect(versions.status == 0 && versions.stdout.split(separator: "\n").count == 2, "seed \(seed): \(versions.stdout)")
        }
    }
}

extension CLI {
    /// Starts the binary and sends it SIGKILL after `delay` unless it has exited by then. Returns
    /// whether the signal ended it, and its exit status otherwise.
    func runKilled(_ arguments: [String], after delay: Duration) throws -> (killed: Bool, status: Int32) {
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = arguments
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let (seconds, attoseconds) = delay.components
        usleep(useconds_t(seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return (process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL, process.terminationStatus)
    }
}
