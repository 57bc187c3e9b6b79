#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import Logging
import AWSClient
import SecureCrypto
import Strongroom
import StrongroomMetrics

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure store, load and rotation throughput on a throwaway vault.",
        discussion: """
            Build with -c release for meaningful figures. scripts/bench/compare runs this beside the \
            Python peers. Tier hsm needs --module and --token and the PIN in $STRONGROOM_HSM_PIN; the \
            throwaway vault's KEKs are destroyed at the end. Tier cloud needs --endpoint and --bucket \
            and the credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; it works under a fresh \
            prefix, also times plain GETs of one object (the server's own rate), and deletes every \
            object version it wrote and schedules deletion of the KMS keys it made. `strongroom bench \
            serve` measures a real `strongroom serve` against the library instead.
            """,
        subcommands: [ServerBenchCommand.self])

    @Option(name: .long, help: "The tier to measure: local, cloud or hsm (any registered tier).")
    var tier: String = "local"

    @Option(
        name: .customLong("setting"),
        help: ArgumentHelp("A setting of the tier, as in a configuration file (repeatable; for example hsm.initArgs=...).", valueName: "key=value"))
    var settings: [String] = []

    @Option(name: .long, help: "Directory for the throwaway vaults (must not exist; default: a temporary directory).")
    var dir: String?

    @Option(name: .long, help: "Durable stores to time.")
    var count: Int = 2000

    @Option(name: .long, help: "Loads to time (cycling over the stored shares).")
    var loadCount: Int = 20000

    @Option(name: .long, help: "Share versions in the vault when the rotation is timed.")
    var rotateCount: Int = 10000

    @Option(name: .long, help: "Comma-separated numbers of concurrent tasks, each measured on a fresh vault (e.g. 1,2,4).")
    var concurrency: String = "1"

    @Option(name: .long, help: "After the other phases, this many more loads (0: none), reporting peak resident memory.")
    var soak: Int = 0

    @Option(name: .long, help: ArgumentHelp("Tier hsm: PKCS#11 module (.so).", valueName: "path"))
    var module: String?

    @Option(name: .long, help: ArgumentHelp("Tier hsm: token label.", valueName: "label"))
    var token: String?

    @Option(name: .long, help: ArgumentHelp("Tier hsm: C_Initialize pReserved string (hsm.initArgs; NSS softokn needs one).", valueName: "text"))
    var initArgs: String?

    @Flag(name: .long, help: "Tier hsm: benchmark on a token that does not protect the KEK (a test module such as NSS softokn).")
    var acceptWeakToken = false

    @Option(name: .long, help: "Tier hsm: session objects between module re-initialisations (hsm.recycleAfter; 0: never).")
    var recycleAfter: Int = 20_000

    @Option(name: .long, help: ArgumentHelp("Tier cloud: S3 and KMS endpoint URL.", valueName: "url"))
    var endpoint: String?

    @Option(name: .long, help: ArgumentHelp("Tier cloud: bucket (versioned).", valueName: "name"))
    var bucket: String?

    @Option(name: .long, help: "Tier cloud: region.")
    var region: String = "us-east-1"

    @Option(name: .long, help: "Tier cloud: plain GETs of one object to time (the server's own request rate).")
    var getCount: Int = 500

    @Flag(name: .long, help: "Measure the FROST engine instead: keygen, sign 2-of-3 and 3-of-5 from tier 1, refresh, and one libsodium Ed25519 signature as the reference.")
    var frost = false

    @Option(name: .long, help: "--frost: signatures to time per configuration.")
    var frostCount: Int = 500

    @Option(name: .long, help: ArgumentHelp("Measure rotation at scale instead (tier local): grow one vault to each of these share-version counts in turn (comma-separated, e.g. 10000,100000,1000000) and rotate it there, reporting time, rate and the rotation's peak RSS.", valueName: "counts"))
    var rotationScale: String?

    @Flag(name: .long, help: "Print one JSON object per measurement instead of a table.")
    var json = false

    @Flag(name: .long, help: "Also time store and load in a vault with a recovery key enrolled (a throwaway key), beside each level's vault without one (ops *_recovery).")
    var recoveryKey = false

    @Flag(name: .long, help: "With --recovery-key: time the vault with the recovery key first (file systems slow down as a run creates and deletes files, so compare both orders).")
    var recoveryFirst = false

    @Flag(name: .long, help: "Time store and load with auditing on (the default settings, fail-closed) beside auditing off, in two vaults of the tier in turns (which goes first alternates each round), with the ratios (ops *_audit, *_noaudit, audit_ratio); nothing else is timed.")
    var auditCompare = false

    @Option(name: .long, help: "--audit-compare: rounds per phase; each round times count/rounds stores (loadCount/rounds loads) in each vault.")
    var auditRounds: Int = 4

    @Flag(name: .long, help: "After the figures, print the process's metrics (store operations by tier, operation and outcome, latency histograms, audit, HSM and S3/KMS retry metrics) in the Prometheus text format.")
    var metrics = false

    var rotationScaleSizes: [Int] { (rotationScale ?? "").split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    var concurrencies: [Int] { concurrency.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        guard !frost || (tier == "local" && frostCount > 0) else { throw ValidationError("--frost measures tier 1 (local) with a positive --frost-count") }
        if let rotationScale {
            let sizes = rotationScaleSizes
            guard tier == "local", !frost, !sizes.isEmpty, sizes.count == rotationScale.split(separator: ",").count,
                sizes.allSatisfy({ $0 > 0 && $0 <= 9_999_999 })
            else {
                throw ValidationError("--rotation-scale measures tier 1 (local) and takes share-version counts from 1 to 9999999, comma-separated (got '\(rotationScale)')")
            }
        }
        guard TierRegistry.standard.provider(named: tier) != nil else {
            throw ValidationError("--tier must be one of \(TierRegistry.standard.names.joined(separator: ", ")) (got '\(tier)')")
        }
        guard settings.allSatisfy({ $0.contains("=") && !$0.hasPrefix("=") }) else {
            throw ValidationError("--setting takes key=value")
        }
        guard count > 0, loadCount > 0, rotateCount > 0, soak >= 0 else { throw ValidationError("counts must be positive") }
        if auditCompare {
            guard !frost, rotationScale == nil, !recoveryKey else {
                throw ValidationError("--audit-compare times store and load only; it does not combine with --frost, --rotation-scale or --recovery-key")
            }
            guard (1...64).contains(auditRounds), auditRounds <= min(count, loadCount) else {
                throw ValidationError("--audit-rounds takes 1 to 64, at most --count and --load-count (got \(auditRounds))")
            }
        }
        let levels = concurrencies
        guard !levels.isEmpty, levels.count == concurrency.split(separator: ",").count, levels.allSatisfy({ (1...64).contains($0) }) else {
            throw ValidationError("--concurrency takes numbers from 1 to 64, comma-separated (got '\(concurrency)')")
        }
        if tier == "hsm" {
            guard module != nil, token != nil else { throw ValidationError("--tier hsm needs --module and --token (PIN from $STRONGROOM_HSM_PIN)") }
        }
        if tier == "cloud" {
            guard endpoint != nil, bucket != nil, getCount > 0 else {
                throw ValidationError("--tier cloud needs --endpoint and --bucket (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)")
            }
        }
    }

    func run() async throws {
        // Before any store exists: the store's metric handles are made once a backend is in place.
        let exporter = metrics ? PrometheusMetrics.bootstrap() : nil
        try await measure()
        if let exporter {
            print("")
            print(exporter.exposition(), terminator: "")
        }
    }

    private func measure() async throws {
        try await Terminal.run {
            let logger = Logger(label: "strongroom.bench") { _ in SwiftLogNoOpLogHandler() }
            let base = dir ?? "\(FileManager.default.temporaryDirectory.path)/strongroom-bench-\(UUID().uuidString)"
            if FileManager.default.fileExists(atPath: base) {
                throw StrongroomError(.vaultAlreadyExists, "\(base) exists; give --dir a path that does not")
            }
            try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            defer { try? FileManager.default.removeItem(atPath: base) }

            if frost {
                try await FrostBench(bench: self, base: base, logger: logger).run()
                return
            }
            if rotationScale != nil {
                try await RotationScaleBench(bench: self, base: base, sizes: rotationScaleSizes, logger: logger).run()
                return
            }
            let ids = try (0..<max(count, rotateCount, 64)).map { try ShareID(String(format: "s-%06d", $0)) }
            let configuration = try benchConfiguration(base: base)
            if auditCompare {
                for level in concurrencies {
                    try await auditComparison(configuration, base: base, ids: ids, level: level, logger: logger)
                }
                return
            }
            for figure in try await configuration.provider.benchmarkBaseline(
                configuration: configuration, count: getCount, concurrencies: concurrencies, logger: logger)
            {
                report(op: figure.operation, concurrency: figure.concurrency, count: figure.count, elapsed: figure.elapsed)
            }
            for level in concurrencies {
                if recoveryKey && recoveryFirst { try await recoveryPhases(configuration, base: base, ids: ids, level: level, logger: logger) }
                let vault = try await makeVault(configuration, base: base, name: "c\(level)", sessions: level, logger: logger)
                do {
                    try await phases(vault.store, ids: ids, concurrency: level)
                } catch {
                    await vault.remove()
                    throw error
                }
                await vault.remove()
                if recoveryKey && !recoveryFirst { try await recoveryPhases(configuration, base: base, ids: ids, level: level, logger: logger) }
            }
            if soak > 0 {
                let level = concurrencies.max() ?? 1
                let vault = try await makeVault(configuration, base: base, name: "soak", sessions: level, logger: logger)
                do {
                    for index in 0..<64 { _ = try await vault.store.store(ids[index], try SecureRandom.secretBytes(count: 32)) }
                    let start = ContinuousClock.now
                    let store = vault.store, soakIDs = Array(ids.prefix(64))
                    try await spread(soak, over: level) { index in _ = try await store.load(soakIDs[index % 64]) }
                    report(op: "soak_load", concurrency: level, count: soak, elapsed: .now - start, extra: ["peak_rss_mib": peakRSSMiB()])
                } catch {
                    await vault.remove()
                    throw error
                }
                await vault.remove()
            }
        }
    }

    /// The tier's settings from the command's options, parsed by the tier's provider like a file's.
    private func benchConfiguration(base: String) throws -> StrongroomConfiguration {
        var values = ["tier": tier]
        switch tier {
        case "local":
            values["local.path"] = base
        case "hsm":
            values["hsm.module"] = module
            values["hsm.tokenLabel"] = token
            values["hsm.initArgs"] = initArgs
            values["hsm.recycleAfter"] = String(recycleAfter)
            values["hsm.blobPath"] = base
        case "cloud":
            values["cloud.endpoint"] = endpoint
            values["cloud.bucket"] = bucket
            values["cloud.region"] = region
            values["cloud.prefix"] = runPrefix
        default:
            break
        }
        for setting in settings {
            let parts = setting.split(separator: "=", maxSplits: 1)
            values[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return try StrongroomConfiguration.load(
            settings: values, source: "the bench options", registry: .standard)
    }

    private func makeVault(
        _ configuration: StrongroomConfiguration, base: String, name: String, sessions: Int, logger: Logger
    ) async throws -> BenchmarkVault {
        try await configuration.provider.benchmarkVault(
            configuration: configuration, name: name, scratchDirectory: base, concurrency: sessions,
            options: VaultCreationOptions(acceptWeakKeyStore: acceptWeakToken ? Terminal.weakTokenWarning : nil),
            logger: logger)
    }

    /// Store and load in a throwaway vault with a throwaway recovery key enrolled (ops `*_recovery`).
    private func recoveryPhases(
        _ configuration: StrongroomConfiguration, base: String, ids: [ShareID], level: Int, logger: Logger
    ) async throws {
        let enrolled = try await makeVault(configuration, base: base, name: "r\(level)", sessions: level, logger: logger)
        do {
            let key = try RecoveryPublicKey(bytes: try X25519.publicKey(of: try X25519.generatePrivateKey()))
            _ = try await enrolled.store.enrolRecoveryKey(key)
            try await storeAndLoad(enrolled.store, ids: ids, concurrency: level, suffix: "_recovery")
        } catch {
            await enrolled.remove()
            throw error
        }
        await enrolled.remove()
    }

    /// Store and load with auditing on (``AuditSettings/standard``: fail-closed, every record written
    /// before a store returns) beside auditing off, in two fresh vaults of the tier. Each phase runs in
    /// ``auditRounds`` rounds of count/rounds operations per vault, the vault that goes first
    /// alternating from round to round (a file system slows down as a run creates files, and caches
    /// warm up: neither vault always gets the better turn). Reports `*_audit`, `*_noaudit` and the
    /// ratios audited/unaudited (1.0: auditing costs nothing).
    private func auditComparison(
        _ configuration: StrongroomConfiguration, base: String, ids: [ShareID], level: Int, logger: Logger
    ) async throws {
        let audited = try await makeVault(configuration, base: base, name: "a\(level)", sessions: level, logger: logger)
        let plain: BenchmarkVault
        do {
            plain = try await makeVault(configuration, base: base, name: "n\(level)", sessions: level, logger: logger)
        } catch {
            await audited.remove()
            throw error
        }
        do {
            audited.store.configureAudit(.standard)
            plain.store.configureAudit(AuditSettings(mode: .off))
            let stores = [audited.store, plain.store]
            let clock = ContinuousClock()
            var storeTime: [Duration] = [.zero, .zero], loadTime: [Duration] = [.zero, .zero]
            for round in 0..<auditRounds {
                let range = (round * count / auditRounds)..<((round + 1) * count / auditRounds)
                for which in round % 2 == 0 ? [0, 1] : [1, 0] {
                    let store = stores[which], first = range.lowerBound
                    let start = clock.now
                    try await spread(range.count, over: level) { index in
                        _ = try await store.store(ids[first + index], try SecureRandom.secretBytes(count: 32))
                    }
                    storeTime[which] += clock.now - start
                }
            }
            let sample = try SecureRandom.secretBytes(count: 32)
            for store in stores { _ = try await store.store(ids[0], sample) }
            for round in 0..<auditRounds {
                let range = (round * loadCount / auditRounds)..<((round + 1) * loadCount / auditRounds)
                for which in round % 2 == 0 ? [1, 0] : [0, 1] {
                    let store = stores[which], first = range.lowerBound, count = count
                    let start = clock.now
                    try await spread(range.count, over: level) { index in _ = try await store.load(ids[(first + index) % count]) }
                    loadTime[which] += clock.now - start
                }
            }
            for store in stores {
                guard try await store.load(ids[0]) == sample else {
                    throw StrongroomError(.integrityCheckFailed, "benchmark share did not round-trip")
                }
            }
            let storeOp = tier == "cloud" ? "store" : "store_durable"
            report(op: storeOp + "_audit", concurrency: level, count: count, elapsed: storeTime[0])
            report(op: storeOp + "_noaudit", concurrency: level, count: count, elapsed: storeTime[1])
            report(op: "load_audit", concurrency: level, count: loadCount, elapsed: loadTime[0])
            report(op: "load_noaudit", concurrency: level, count: loadCount, elapsed: loadTime[1])
            // Rate with auditing over rate without = time without over time with.
            let storeRatio = storeTime[1].seconds / storeTime[0].seconds, loadRatio = loadTime[1].seconds / loadTime[0].seconds
            if json {
                print(
                    "{\"impl\":\"strongroom\",\"tier\":\"\(tier)\",\"op\":\"audit_ratio\",\"concurrency\":\(level),"
                        + "\"store_ratio\":\(String(format: "%.3f", storeRatio)),\"load_ratio\":\(String(format: "%.3f", loadRatio))}")
            } else {
                print(String(format: "audit_ratio    x%-2d  store %.3f  load %.3f  (rate with auditing / without)", level, storeRatio, loadRatio))
            }
        } catch {
            await audited.remove()
            await plain.remove()
            throw error
        }
        await audited.remove()
        await plain.remove()
    }

    /// Store and load only, reported with `suffix` (the recovery-key comparison).
    private func storeAndLoad(_ store: ShareStore, ids: [ShareID], concurrency level: Int, suffix: String) async throws {
        let sample = try SecureRandom.secretBytes(count: 32)
        let clock = ContinuousClock()
        var start = clock.now
        try await spread(count, over: level) { index in _ = try await store.store(ids[index], try SecureRandom.secretBytes(count: 32)) }
        report(op: (tier == "cloud" ? "store" : "store_durable") + suffix, concurrency: level, count: count, elapsed: clock.now - start)
        _ = try await store.store(ids[0], sample)
        start = clock.now
        try await spread(loadCount, over: level) { index in _ = try await store.load(ids[index % count]) }
        report(op: "load" + suffix, concurrency: level, count: loadCount, elapsed: clock.now - start)
        guard try await store.load(ids[0]) == sample else {
            throw StrongroomError(.integrityCheckFailed, "benchmark share did not round-trip")
        }
    }

    private func phases(_ store: ShareStore, ids: [ShareID], concurrency level: Int) async throws {
        let sample = try SecureRandom.secretBytes(count: 32)
        let clock = ContinuousClock()

        var start = clock.now
        try await spread(count, over: level) { index in _ = try await store.store(ids[index], try SecureRandom.secretBytes(count: 32)) }
        // Every tier's store is durable when it returns; "store_durable" names the file tiers' fsyncs.
        report(op: tier == "cloud" ? "store" : "store_durable", concurrency: level, count: count, elapsed: clock.now - start)

        _ = try await store.store(ids[0], sample)
        start = clock.now
        try await spread(loadCount, over: level) { index in _ = try await store.load(ids[index % count]) }
        report(op: "load", concurrency: level, count: loadCount, elapsed: clock.now - start)
        guard try await store.load(ids[0]) == sample else {
            throw StrongroomError(.integrityCheckFailed, "benchmark share did not round-trip")
        }

        for index in min(count, rotateCount)..<rotateCount { _ = try await store.store(ids[index], try SecureRandom.secretBytes(count: 32)) }
        let versions = try await store.status().versionCount
        start = clock.now
        let rotation = try await store.rotateWrappingKey(concurrency: level)
        report(
            op: "rotate", concurrency: level, count: rotation.rewrapped, elapsed: clock.now - start,
            extra: ["peak_rss_mib": peakRSSMiB(), "vault_versions": Double(versions)])
        guard try await store.load(ids[0]) == sample else {
            throw StrongroomError(.integrityCheckFailed, "benchmark share did not survive rotation")
        }
    }

    /// One prefix per run, so runs never meet.
    private let runPrefix = "strongroom-bench-\(UUID().uuidString.prefix(8).lowercased())/"

    /// Runs `body` for indices 0..<total on `tasks` concurrent tasks (task k takes k, k+tasks, ...).
    func spread(_ total: Int, over tasks: Int, _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        if tasks == 1 {
            for index in 0..<total { try await body(index) }
            return
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<tasks {
                group.addTask {
                    var index = task
                    while index < total {
                        try await body(index)
                        index += tasks
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    func report(op: String, concurrency level: Int, count: Int, elapsed: Duration, extra: [String: Double] = [:]) {
        let seconds = elapsed.seconds
        let rate = Double(count) / seconds
        if json {
            var fields = [
                "\"impl\":\"strongroom\"", "\"tier\":\"\(tier)\"", "\"op\":\"\(op)\"", "\"concurrency\":\(level)",
                "\"count\":\(count)", "\"seconds\":\(String(format: "%.6f", seconds))",
                "\"ops_per_s\":\(String(format: "%.1f", rate))",
            ]
            for (key, value) in extra.sorted(by: { $0.key < $1.key }) { fields.append("\"\(key)\":\(String(format: "%.1f", value))") }
            print("{" + fields.joined(separator: ",") + "}")
        } else {
            var line = op.padding(toLength: max(14, op.count), withPad: " ", startingAt: 0) + String(format: " x%-2d", level)
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
