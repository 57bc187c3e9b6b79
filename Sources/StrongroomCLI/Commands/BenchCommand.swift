#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import Logging
import SecureCrypto
import Strongroom

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure store, load and rotation throughput on a throwaway vault.",
        discussion: "Build with -c release for meaningful figures. scripts/bench/compare runs this beside the Python peer.")

    @Option(name: .long, help: "The tier to measure (local).")
    var tier: String = "local"

    @Option(name: .long, help: "Directory for the throwaway vault (must not exist; default: a temporary directory).")
    var dir: String?

    @Option(name: .long, help: "Durable stores to time.")
    var count: Int = 2000

    @Option(name: .long, help: "Loads to time (cycling over the stored shares).")
    var loadCount: Int = 20000

    @Option(name: .long, help: "Share versions in the vault when the rotation is timed.")
    var rotateCount: Int = 10000

    @Flag(name: .long, help: "Print one JSON object per measurement instead of a table.")
    var json = false

    func validate() throws {
        guard tier == "local" else { throw ValidationError("--tier \(tier) is not available yet; this build measures 'local'") }
        guard count > 0, loadCount > 0, rotateCount > 0 else { throw ValidationError("counts must be positive") }
    }

    func run() async throws {
        try await Terminal.run {
            let logger = Logger(label: "strongroom.bench") { _ in SwiftLogNoOpLogHandler() }
            let base = dir ?? "\(FileManager.default.temporaryDirectory.path)/strongroom-bench-\(UUID().uuidString)"
            let cleanup = dir == nil
            defer { if cleanup { try? FileManager.default.removeItem(atPath: base) } }
            let settings = StrongroomConfiguration.Local(path: base)
            _ = try await LocalVault.initialise(settings, logger: logger)
            let store = try await LocalVault.open(settings, logger: logger)
            let clock = ContinuousClock()

            var ids: [ShareID] = []
            for index in 0..<max(count, rotateCount) { ids.append(try ShareID(String(format: "s-%06d", index))) }
            let sample = try SecureRandom.secretBytes(count: 32)

            var start = clock.now
            for index in 0..<count { _ = try await store.store(ids[index], try SecureRandom.secretBytes(count: 32)) }
            report(op: "store_durable", count: count, elapsed: clock.now - start)

            _ = try await store.store(ids[0], sample)
            start = clock.now
            for index in 0..<loadCount { _ = try await store.load(ids[index % count]) }
            report(op: "load", count: loadCount, elapsed: clock.now - start)
            guard try await store.load(ids[0]) == sample else {
                throw StrongroomError(.integrityCheckFailed, "benchmark share did not round-trip")
            }

            for index in min(count, rotateCount)..<rotateCount { _ = try await store.store(ids[index], try SecureRandom.secretBytes(count: 32)) }
            let versions = try await store.status().versionCount
            start = clock.now
            let rotation = try await store.rotateWrappingKey()
            report(op: "rotate", count: rotation.rewrapped, elapsed: clock.now - start, extra: ["peak_rss_mib": peakRSSMiB(), "vault_versions": Double(versions)])
            guard try await store.load(ids[0]) == sample else {
                throw StrongroomError(.integrityCheckFailed, "benchmark share did not survive rotation")
            }
        }
    }

    private func report(op: String, count: Int, elapsed: Duration, extra: [String: Double] = [:]) {
        let seconds = elapsed.seconds
        let rate = Double(count) / seconds
        if json {
            var fields = [
                "\"impl\":\"strongroom\"", "\"tier\":\"\(tier)\"", "\"op\":\"\(op)\"", "\"count\":\(count)",
                "\"seconds\":\(String(format: "%.6f", seconds))", "\"ops_per_s\":\(String(format: "%.1f", rate))",
            ]
            for (key, value) in extra.sorted(by: { $0.key < $1.key }) { fields.append("\"\(key)\":\(String(format: "%.1f", value))") }
            print("{" + fields.joined(separator: ",") + "}")
        } else {
            var line = op.padding(toLength: 14, withPad: " ", startingAt: 0)
                + String(format: "%10.0f ops/s  (%d ops in %.3f s)", rate, count, seconds)
            for (key, value) in extra.sorted(by: { $0.key < $1.key }) { line += String(format: "  %@=%.1f", key, value) }
            print(line)
        }
    }

    private func peakRSSMiB() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }
}
