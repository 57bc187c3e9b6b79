import Foundation
import PKCS11
import SecureCrypto
import Synchronization
import Testing
import Strongroom
@testable import StrongroomCloud
@testable import StrongroomCore
@testable import StrongroomHSM
@testable import StrongroomLocal

/// Cryptoki calls block their thread for as long as the HSM takes. They run on the `blockingThreads`
/// pool, so a slow HSM under load leaves Swift's cooperative pool (two threads on a two-core machine)
/// free for every other task. Each test puts 64 concurrent loads on a token made slow by
/// ``PKCS11Connection/simulatedLatency`` (a blocking sleep on the thread making the Cryptoki calls)
/// while a ticker task that should tick every 5 ms measures its longest gap.
///
/// The tests belong to the serialized ``HSMTierTests`` suite: the run without the pool holds every
/// cooperative thread for a second or two, which must not overlap that suite's timed tests.
enum HSMBlockingPool {
    static let loads = 64
    static let latency = Duration.milliseconds(50)
    static let sessions = max(4, ProcessInfo.processInfo.activeProcessorCount)

    struct Run {
        /// The ticker's longest gap between two ticks.
        var maxGap: Duration
        /// How long the 64 loads took together.
        var total: Duration
        var ticks: Int
    }

    /// 64 concurrent loads of one share on a vault whose Cryptoki calls take 50 ms more each, with
    /// `blockingThreads` threads (0: inline, on the calling task's thread), and a 5 ms ticker alongside.
    static func loadUnderLatency(_ environment: HSMTestEnvironment, blockingThreads: Int) async throws -> Run {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        var configured = environment.settings(blobPath: "\(directory.path)/vault")
        configured.blockingThreads = blockingThreads
        // As many worker sessions as the cooperative pool has threads (at least 4), so that inline
        // calls can occupy every cooperative thread on any machine.
        configured.maxSessions = HSMBlockingPool.sessions
        let settings = configured
        _ = try await HSMVault.initialise(settings, logger: quietLogger)
        defer { Task { try? await HSMVault.destroyKeys(settings, logger: quietLogger) } }
        let store = try await HSMVault.open(settings, logger: quietLogger)
        let share = try id("slow")
        _ = try await store.store(share, secret("a share on a slow HSM"))
        let connection = try #require(store.keyring as? HSMKeyring).connection
        #expect(connection.pool.threadCount == blockingThreads)
        connection.simulatedLatency = HSMBlockingPool.latency
        defer { connection.simulatedLatency = .zero }

        let clock = ContinuousClock()
        final class Flag: Sendable { let done = Atomic<Bool>(false) }
        let flag = Flag()
        let ticker = Task { () -> (Duration, Int) in
            var maxGap = Duration.zero
            var ticks = 0
            var last = clock.now
            while !flag.done.load(ordering: .acquiring) {
                try? await Task.sleep(for: .milliseconds(5))
                let now = clock.now
                maxGap = max(maxGap, now - last)
                last = now
                ticks += 1
            }
            return (maxGap, ticks)
        }
        let start = clock.now
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<HSMBlockingPool.loads {
                group.addTask { try await store.load(share) == secret("a share on a slow HSM") }
            }
            for try await same in group { #expect(same) }
        }
        let total = clock.now - start
        flag.done.store(true, ordering: .releasing)
        let (maxGap, ticks) = await ticker.value
        return Run(maxGap: maxGap, total: total, ticks: ticks)
    }

}

extension HSMTierTests {
    /// With the pool the ticker keeps ticking; the same run with `blockingThreads: 0` (every Cryptoki
    /// call inline, on the cooperative threads) starves it for most of the run. Measured alone on 2
    /// shared cores: with the pool 0.86 s in all and a longest gap of 84 ms (155 ticks); inline 1.65 s
    /// and a gap of 1.6 s (3 ticks). Suites running beside it load the cooperative pool too (with the
    /// whole suite: 1.1 s against 3.6 s), so the checks compare the two runs rather than trusting an
    /// absolute bound.
    @Test func aSlowHSMUnderLoadStarvesOtherTasksOnlyWithoutThePool() async throws {
        // One thread more than sessions: a pool of its own, not the default-sized one other suites share.
        let threads = HSMBlockingPool.sessions + 1
        var pooled = try await HSMBlockingPool.loadUnderLatency(environment, blockingThreads: threads)
        print("blocking pool of \(threads) threads: 64 loads at +50 ms took \(pooled.total), ticker max gap \(pooled.maxGap), \(pooled.ticks) ticks")
        let inline = try await HSMBlockingPool.loadUnderLatency(environment, blockingThreads: 0)
        print("inline (no pool): 64 loads at +50 ms took \(inline.total), ticker max gap \(inline.maxGap), \(inline.ticks) ticks")
        // The suites beside this one share the process's two cooperative threads, and some hold one
        // for seconds (CLI tests waiting for a subprocess): any single run can have its ticker starved
        // by them, pool or not. The property is that the pool leaves the ticker running, so the pooled
        // run gets up to two more tries when such a neighbour got in its way (it was 3.6 s and 5.9 s in
        // two CI runs of the whole suite, against 1.1 s before the audit suites joined it).
        for _ in 0..<2 where !(pooled.maxGap * 2 < inline.maxGap && pooled.maxGap * 2 < pooled.total) {
            pooled = try await HSMBlockingPool.loadUnderLatency(environment, blockingThreads: threads)
            print("blocking pool, again: took \(pooled.total), ticker max gap \(pooled.maxGap), \(pooled.ticks) ticks")
        }

        // N worker sessions (hsm.maxSessions) at 50 ms each: at least 64 / N rounds (800 ms for 4).
        let rounds = (HSMBlockingPool.loads + HSMBlockingPool.sessions - 1) / HSMBlockingPool.sessions
        #expect(pooled.total >= HSMBlockingPool.latency * rounds)
        // Inline, every cooperative thread sits in 50 ms sleeps back to back: the ticker waits most of the run.
        #expect(inline.maxGap * 2 > inline.total, "inline: max gap \(inline.maxGap) over \(inline.total)")
        // With the pool it keeps ticking: its longest wait is a small part of the inline one (alone:
        // 30-84 ms against 1.6-1.9 s; beside the whole suite, whose own work also holds cooperative
        // threads: 0.95-1.13 s against 3.6-3.7 s).
        #expect(pooled.maxGap * 2 < inline.maxGap, "max gap \(pooled.maxGap) with the pool, \(inline.maxGap) without")
        #expect(pooled.maxGap * 2 < pooled.total, "max gap \(pooled.maxGap) over \(pooled.total)")
        #expect(pooled.ticks > inline.ticks * 3)
    }
}
