#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import GRPCCore
import Logging
import SecureCrypto
import Strongroom
import StrongroomClient
import StrongroomProto
import Synchronization

/// `strongroom bench serve`: the same mixed workload through a real `strongroom serve` on a Unix
/// socket (one connection per client) and on the in-process library (one task per client), in one
/// run, with throughput, p50 and p99 of each and the ratio server / in-process. `--rss-requests`
/// instead drives the server alone for that many requests and samples its VmRSS (docs/server.md,
/// "Limits and load").
struct ServerBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Measure a real `strongroom serve` on a Unix socket against the in-process library.",
        discussion: """
            Makes a throwaway vault in a temporary directory, starts `strongroom serve` on a socket there \
            with a policy granting this user every operation, and runs --requests requests (loads of \
            --shares shares, one store in every --store-every) from --clients connections; then the same \
            workload on the library in this process from --clients tasks. --api unary sends each request \
            as its own RPC, --api session sends each client's requests over one Session stream, and \
            --api both (the default) measures the two in turn. Build with -c release for \
            meaningful figures. Tier hsm needs --module and --token and the PIN in $STRONGROOM_HSM_PIN. \
            --rss-requests N drives only the server (unary RPCs, or sessions with --api session), sampling its resident memory (VmRSS) every \
            --rss-sample-every requests; flat means the last quarter's mean is within 10% of the second \
            quarter's.
            """)

    @Option(name: .long, help: "The tier: local or hsm.")
    var tier: String = "local"

    @Option(name: .long, help: "Concurrent clients (connections to the server; tasks in process).")
    var clients: Int = 32

    @Option(name: .long, help: "Requests per phase.")
    var requests: Int = 20_000

    @Option(name: .long, help: "Shares the loads cycle over (stored before timing).")
    var shares: Int = 64

    @Option(name: .long, help: "One request in this many is a store (0: loads only).")
    var storeEvery: Int = 10

    @Option(name: .long, help: "Measure the server's resident memory over this many requests instead (e.g. 1000000).")
    var rssRequests: Int?

    @Option(name: .long, help: "--rss-requests: requests between VmRSS samples.")
    var rssSampleEvery: Int = 10_000

    @Option(name: .long, help: ArgumentHelp("Tier hsm: PKCS#11 module (.so).", valueName: "path"))
    var module: String?

    @Option(name: .long, help: ArgumentHelp("Tier hsm: token label.", valueName: "label"))
    var token: String?

    @Option(name: .long, help: ArgumentHelp("Also run this peer script (scripts/bench/server) against the live server, with --address, --clients, --requests, --shares, --store-every, --api and --json.", valueName: "path"))
    var peer: String?

    @Option(name: .long, help: ArgumentHelp("The strongroom binary to serve with (default: this one).", valueName: "path"))
    var serverBinary: String?

    @Option(name: .long, help: "Directory for the throwaway vault and socket (must not exist; default: a temporary directory).")
    var dir: String?

    @Option(name: .long, help: ArgumentHelp("Offer this many requests per second in all (spread evenly over the clients) instead of as many as they can; latency then counts from when each request was due, so a server that falls behind shows it.", valueName: "per-second"))
    var rate: Double?

    @Option(name: .long, help: "Server requests as unary RPCs, over one Session stream per client, or both (each its own phase).")
    var api: String = "both"

    @Flag(name: .long, help: "Server phases send only Health requests (no vault work; unary, in sessions or both, per --api), set beside the in-process workload: what the RPCs cost by themselves, a ceiling for the server phases.")
    var healthOnly = false

    @Flag(name: .long, help: "Print one JSON object per measurement instead of a table.")
    var json = false

    func validate() throws {
        guard ["unary", "session", "both"].contains(api) else { throw ValidationError("--api must be unary, session or both (got '\(api)')") }
        guard tier == "local" || tier == "hsm" else { throw ValidationError("--tier must be local or hsm (got '\(tier)')") }
        guard (1...1024).contains(clients) else { throw ValidationError("--clients takes 1 to 1024 (got \(clients))") }
        if let rate, !(rate > 0 && rate.isFinite) { throw ValidationError("--rate must be a positive number of requests per second") }
        guard requests > 0, shares > 0, storeEvery >= 0 else {
            throw ValidationError("--requests and --shares must be positive, --store-every 0 or more")
        }
        if let rssRequests {
            guard rssRequests >= 4 * rssSampleEvery, rssSampleEvery > 0 else {
                throw ValidationError("--rss-requests needs at least four samples: at least 4 × --rss-sample-every (\(rssSampleEvery)) requests")
            }
        }
        if tier == "hsm" {
            guard module != nil, token != nil else { throw ValidationError("--tier hsm needs --module and --token (PIN from $STRONGROOM_HSM_PIN)") }
        }
    }

    func run() async throws {
        // `bench` declares --tier, --dir, --module, --token and --json too, and ArgumentParser gives a
        // name both commands declare to the parent: this command's own values come from parsing the
        // words after `serve` alone.
        let words = CommandLine.arguments
        let own = try words.firstIndex(of: "serve").map { try Self.parse(Array(words[words.index(after: $0)...])) }
        try await (own ?? self).measure()
    }

    private func measure() async throws {
        try await Terminal.run {
            let base = dir ?? "\(FileManager.default.temporaryDirectory.path)/strongroom-bench-serve-\(UUID().uuidString.prefix(8))"
            guard !FileManager.default.fileExists(atPath: base) else {
                throw StrongroomError(.vaultAlreadyExists, "\(base) exists; give --dir a path that does not")
            }
            try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            defer { try? FileManager.default.removeItem(atPath: base) }
            let setup = try ServerBenchSetup(base: base, tier: tier, module: module, token: token)
            let binary = serverBinary ?? ServerBenchSetup.ownExecutable()
            try setup.initialiseVault(binary: binary)
            // Each phase works on shares of its own, seeded before it is timed, so that no phase loads
            // shares that earlier phases' stores gave more versions (a load lists its share's versions).
            let ids = try Self.shareIDs("s", count: shares)

            let server = try ServerBenchProcess.start(binary: binary, config: setup.serveConfig, directory: base)
            var serverFigures: [ServerBenchFigures] = []
            do {
                let address = try ServerAddress.parse("unix:\(setup.socket)")
                try await seed(address, ids: ids)
                if let rssRequests {
                    let rss = try await rssRun(address, ids: ids, total: rssRequests, pid: server.pid, session: api == "session")
                    server.stop()
                    report(rss)
                    return
                }
                if healthOnly {
                    // What the RPCs cost by themselves, set beside the in-process workload below.
                    if api != "session" { serverFigures.append(try await serverRun(address, ids: ids, session: false, health: true)) }
                    if api != "unary" { serverFigures.append(try await serverRun(address, ids: ids, session: true, health: true)) }
                } else {
                    if api != "session" { serverFigures.append(try await serverRun(address, ids: ids, session: false)) }
                    if api != "unary" {
                        let sessionIDs = try Self.shareIDs("t", count: shares)
                        try await seed(address, ids: sessionIDs)
                        serverFigures.append(try await serverRun(address, ids: sessionIDs, session: true))
                    }
                    if let peer {
                        if api != "session" { try runPeer(peer, address: address, api: "unary", prefix: "bench-pu-") }
                        if api != "unary" { try runPeer(peer, address: address, api: "session", prefix: "bench-ps-") }
                    }
                }
            } catch {
                server.stop()
                throw error
            }
            let exit = server.stop()
            guard exit == 0 else {
                throw StrongroomError(.io, "the server exited with status \(exit) after SIGTERM: \(server.stderrTail())")
            }
            let configuration = try await StrongroomConfiguration.load(
                filePath: setup.vaultConfig, environment: ProcessInfo.processInfo.environment)
            let logger = Logger(label: "strongroom.bench") { _ in SwiftLogNoOpLogHandler() }
            let store = try await OpenStores.open(configuration: configuration, logger: logger)
            let inProcessIDs = try Self.shareIDs("i", count: shares)
            for id in inProcessIDs { _ = try await store.store(id, try SecureRandom.secretBytes(count: 32)) }
            let inProcess = try await inProcessRun(store, ids: inProcessIDs)
            // Checkpointed now: the throwaway directory is gone when Terminal.run would do it.
            if let failure = await OpenStores.checkpointAll() { throw failure }
            report(server: serverFigures, inProcess: inProcess)
        }
    }

    // MARK: - Workload

    /// Request `index` of a phase: a store of a fresh 32-byte share, or a load.
    static func isStore(_ index: Int, every storeEvery: Int) -> Bool { storeEvery > 0 && index % storeEvery == storeEvery - 1 }

    /// `bench-<phase>-00000` … : the shares of one phase.
    static func shareIDs(_ phase: String, count: Int) throws -> [ShareID] {
        try (0..<count).map { try ShareID("bench-\(phase)-" + String(format: "%05d", $0)) }
    }

    private func seed(_ address: ServerAddress, ids: [ShareID]) async throws {
        try await StrongroomClient.withVault(address) { vault in
            for id in ids { _ = try await vault.store(try Self.storeRequest(id)) }
        }
    }

    /// A store request carrying a fresh random share (copied out of SecretBytes into the message only).
    static func storeRequest(_ id: ShareID) throws -> Strongroom_V1_StoreRequest {
        let secret = try SecureRandom.secretBytes(count: 32)
        var request = Strongroom_V1_StoreRequest()
        request.shareID = id.description
        request.secret = secret.withUnsafeBytes { Data($0) }
        return request
    }

    /// The server phase: `clients` connections, each sending its share of the requests as unary RPCs
    /// or, with `session`, over one Session stream.
    private func serverRun(_ address: ServerAddress, ids: [ShareID], session: Bool, health: Bool = false) async throws -> ServerBenchFigures {
        let total = requests, clients = clients, storeEvery = storeEvery, rate = rate
        var start = ContinuousClock.now
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            // With --rate, the schedule starts after time enough for every client to connect.
            let ready = ContinuousClock.now + .seconds(Double(clients) * 0.02 + 0.5)
            if rate != nil { start = ready }
            let origin = start
            for client in 0..<clients {
                group.addTask {
                    try await Self.withClient(address, session: session, health: health, ids: ids, storeEvery: storeEvery) { send in
                        try await Self.timedRequests(client: client, of: clients, total: total, origin: origin, rate: rate, send)
                    }
                }
            }
            var all: [Double] = []
            for try await part in group { all += part }
            return all
        }
        let impl = health ? (session ? "health-session" : "health") : (session ? "session" : "server")
        return ServerBenchFigures(impl: impl, elapsed: (ContinuousClock.now - start).seconds, latencies: latencies)
    }

    /// The latencies (seconds) of the requests of one client: `client`, `client + clients`, … below
    /// `total`, each sent by `send` and timed from ``due(_:origin:rate:)``.
    static func timedRequests(
        client: Int, of clients: Int, total: Int, origin: ContinuousClock.Instant, rate: Double?,
        _ send: (Int) async throws -> Void
    ) async throws -> [Double] {
        var mine: [Double] = []
        mine.reserveCapacity(total / clients + 1)
        var index = client
        while index < total {
            let began = try await due(index, origin: origin, rate: rate)
            try await send(index)
            mine.append((ContinuousClock.now - began).seconds)
            index += clients
        }
        return mine
    }

    /// When request `index` starts counting: now, or with `rate` its due time `origin + index / rate`
    /// (after sleeping until then when early), so a request sent late counts its wait.
    static func due(_ index: Int, origin: ContinuousClock.Instant, rate: Double?) async throws -> ContinuousClock.Instant {
        guard let rate else { return ContinuousClock.now }
        let due = origin + .seconds(Double(index) / rate)
        if ContinuousClock.now < due { try await Task.sleep(until: due, clock: .continuous) }
        return due
    }

    /// Runs `body` with one connection to the server, giving it a function that sends request `index`
    /// of the workload as a unary RPC or, with `session`, over the connection's one Session stream.
    static func withClient<T: Sendable>(
        _ address: ServerAddress, session: Bool, health: Bool = false, ids: [ShareID], storeEvery: Int,
        _ body: @escaping @Sendable (_ send: (Int) async throws -> Void) async throws -> T
    ) async throws -> T {
        if session {
            return try await StrongroomClient.withSession(address) { session in
                if health {
                    return try await body { _ in _ = try await session.health() }
                }
                return try await body { index in
                    try await workloadRequest(
                        index, ids: ids, storeEvery: storeEvery, store: { _ = try await session.store($0) }, load: { try await session.load($0) })
                }
            }
        }
        return try await StrongroomClient.withVault(address) { vault in
            if health {
                return try await body { _ in _ = try await vault.health(Strongroom_V1_HealthRequest()) }
            }
            return try await body { index in
                try await workloadRequest(
                    index, ids: ids, storeEvery: storeEvery, store: { _ = try await vault.store($0) }, load: { try await vault.load($0) })
            }
        }
    }

    /// Request `index` of the workload through `store` or `load`: a store of a fresh 32-byte share, or
    /// a load whose answer must be 32 bytes.
    static func workloadRequest(
        _ index: Int, ids: [ShareID], storeEvery: Int,
        store: (Strongroom_V1_StoreRequest) async throws -> Void,
        load: (Strongroom_V1_LoadRequest) async throws -> Strongroom_V1_LoadResponse
    ) async throws {
        let id = ids[index % ids.count]
        if isStore(index, every: storeEvery) {
            try await store(try Self.storeRequest(id))
        } else {
            var request = Strongroom_V1_LoadRequest()
            request.shareID = id.description
            let response = try await load(request)
            guard response.secret.count == 32 else {
                throw StrongroomError(.integrityCheckFailed, "share '\(id)' came back with \(response.secret.count) bytes, not 32")
            }
        }
    }

    private func inProcessRun(_ store: ShareStore, ids: [ShareID]) async throws -> ServerBenchFigures {
        let total = requests, clients = clients, storeEvery = storeEvery, rate = rate
        let start = ContinuousClock.now + (rate == nil ? .zero : .milliseconds(100))
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for client in 0..<clients {
                group.addTask {
                    try await Self.timedRequests(client: client, of: clients, total: total, origin: start, rate: rate) { index in
                        let id = ids[index % ids.count]
                        if Self.isStore(index, every: storeEvery) {
                            _ = try await store.store(id, try SecureRandom.secretBytes(count: 32))
                        } else {
                            _ = try await store.load(id)
                        }
                    }
                }
            }
            var all: [Double] = []
            for try await part in group { all += part }
            return all
        }
        return ServerBenchFigures(impl: "in-process", elapsed: (ContinuousClock.now - start).seconds, latencies: latencies)
    }

    /// Drives the server for `total` requests, sampling /proc/PID/status VmRSS each time the count of
    /// finished requests crosses a multiple of ``rssSampleEvery``.
    private func rssRun(_ address: ServerAddress, ids: [ShareID], total: Int, pid: Int32, session: Bool) async throws -> ServerBenchRSS {
        let progress = RSSProgress()
        let every = rssSampleEvery, clients = clients, storeEvery = storeEvery
        if let first = ServerBenchProcess.residentKiB(pid: pid) { progress.samples.withLock { $0.append((0, first)) } }
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in 0..<clients {
                group.addTask {
                    try await Self.withClient(address, session: session, ids: ids, storeEvery: storeEvery) { send in
                        var index = client
                        while index < total {
                            try await send(index)
                            let finished = progress.done.add(1, ordering: .relaxed).newValue
                            if finished % every == 0, let kib = ServerBenchProcess.residentKiB(pid: pid) {
                                progress.samples.withLock { $0.append((finished, kib)) }
                            }
                            index += clients
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = (ContinuousClock.now - start).seconds
        return ServerBenchRSS(requests: total, elapsed: elapsed, samples: progress.samples.withLock { $0 }.sorted { $0.0 < $1.0 })
    }

    private func runPeer(_ script: String, address: ServerAddress, api: String, prefix: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: script)
        process.arguments = [
            "--address", address.description, "--clients", String(clients), "--requests", String(requests),
            "--shares", String(shares), "--store-every", String(storeEvery), "--tier", tier, "--api", api,
            "--prefix", prefix, "--seed",
        ] + (json ? ["--json"] : [])
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw StrongroomError(.io, "peer script \(script) exited with status \(process.terminationStatus)")
        }
    }

    // MARK: - Output

    /// One line (or JSON object) per phase, then the ratio of each server phase to the in-process one:
    /// `serve_ratio` for unary RPCs, `serve_session_ratio` for sessions.
    private func report(server: [ServerBenchFigures], inProcess: ServerBenchFigures) {
        for figures in server + [inProcess] {
            print(json ? figures.json(tier: tier, clients: clients) : figures.line(tier: tier, clients: clients))
        }
        for figures in server {
            let ratio = figures.throughput / inProcess.throughput
            let (op, label): (String, String) =
                switch figures.impl {
                case "session": ("serve_session_ratio", "session")
                case "health": ("serve_health_ratio", "health calls (unary, no vault work)")
                case "health-session": ("serve_health_session_ratio", "health requests in sessions (no vault work)")
                default: ("serve_ratio", "server (unary)")
                }
            if json {
                print("{\"impl\":\"strongroom\",\"tier\":\"\(tier)\",\"op\":\"\(op)\",\"clients\":\(clients),\"throughput_ratio\":\(String(format: "%.3f", ratio))}")
            } else {
                print(String(format: "ratio %@ / in-process throughput %.3f", label, ratio))
            }
        }
    }

    private func report(_ rss: ServerBenchRSS) {
        if json {
            print(rss.json(tier: tier, clients: clients))
        } else {
            print(rss.text(tier: tier, clients: clients))
        }
    }
}

/// Requests finished and VmRSS samples taken so far in an `--rss-requests` run.
final class RSSProgress: Sendable {
    let done = Atomic<Int>(0)
    let samples = Mutex<[(Int, Int)]>([])
}

/// Throughput and latency percentiles of one phase.
struct ServerBenchFigures {
    var impl: String
    var elapsed: Double
    var latencies: [Double]

    init(impl: String, elapsed: Double, latencies: [Double]) {
        self.impl = impl
        self.elapsed = elapsed
        self.latencies = latencies.sorted()
    }

    var throughput: Double { Double(latencies.count) / elapsed }

    /// The `p`-quantile (nearest rank) in milliseconds.
    func percentile(_ p: Double) -> Double {
        guard !latencies.isEmpty else { return 0 }
        let rank = Int((p * Double(latencies.count)).rounded(.up)) - 1
        return latencies[min(max(rank, 0), latencies.count - 1)] * 1000
    }

    func line(tier: String, clients: Int) -> String {
        String(
            format: "%@ %@ x%d  %10.0f req/s  p50 %.3f ms  p99 %.3f ms  (%d requests in %.3f s)",
            impl.padding(toLength: 14, withPad: " ", startingAt: 0), tier, clients, throughput,
            percentile(0.50), percentile(0.99), latencies.count, elapsed)
    }

    func json(tier: String, clients: Int) -> String {
        "{\"impl\":\"\(impl)\",\"tier\":\"\(tier)\",\"op\":\"\(impl.hasPrefix("health") ? "serve_health" : "serve_mixed")\",\"clients\":\(clients),\"requests\":\(latencies.count),"
            + "\"seconds\":\(String(format: "%.6f", elapsed)),\"ops_per_s\":\(String(format: "%.1f", throughput)),"
            + "\"p50_ms\":\(String(format: "%.3f", percentile(0.50))),\"p99_ms\":\(String(format: "%.3f", percentile(0.99)))}"
    }
}

/// The server's VmRSS samples over a long run, and whether they stayed flat.
struct ServerBenchRSS {
    var requests: Int
    var elapsed: Double
    /// (requests finished, VmRSS in KiB), in order.
    var samples: [(Int, Int)]

    /// Mean VmRSS (KiB) of the samples in quarter `q` (0-based) of the run.
    func quarterMean(_ q: Int) -> Double {
        let lower = requests * q / 4, upper = requests * (q + 1) / 4
        let inQuarter = samples.filter { $0.0 > lower && $0.0 <= upper }.map { Double($0.1) }
        return inQuarter.isEmpty ? 0 : inQuarter.reduce(0, +) / Double(inQuarter.count)
    }

    /// Flat: the last quarter's mean within 10% of the second quarter's (the first quarter warms up).
    var flat: Bool {
        let second = quarterMean(1), last = quarterMean(3)
        return second > 0 && abs(last - second) <= 0.10 * second
    }

    var peakKiB: Int { samples.map(\.1).max() ?? 0 }

    func text(tier: String, clients: Int) -> String {
        var out = String(
            format: "server rss %@ x%d  %d requests in %.1f s (%.0f req/s)\n", tier, clients, requests, elapsed,
            Double(requests) / elapsed)
        for (done, kib) in samples { out += String(format: "  %9d  %8.1f MiB\n", done, Double(kib) / 1024) }
        out += String(
            format: "second quarter %.1f MiB, last quarter %.1f MiB, peak %.1f MiB: %@",
            quarterMean(1) / 1024, quarterMean(3) / 1024, Double(peakKiB) / 1024, flat ? "flat" : "NOT flat (grew more than 10%)")
        return out
    }

    func json(tier: String, clients: Int) -> String {
        let series = samples.map { "[\($0.0),\($0.1)]" }.joined(separator: ",")
        return "{\"impl\":\"server\",\"tier\":\"\(tier)\",\"op\":\"serve_rss\",\"clients\":\(clients),\"requests\":\(requests),"
            + "\"seconds\":\(String(format: "%.3f", elapsed)),\"q2_kib\":\(String(format: "%.0f", quarterMean(1))),"
            + "\"q4_kib\":\(String(format: "%.0f", quarterMean(3))),\"peak_kib\":\(peakKiB),\"flat\":\(flat),\"samples\":[\(series)]}"
    }
}
