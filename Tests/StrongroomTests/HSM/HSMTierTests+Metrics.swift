import Foundation
import PKCS11
import SecureCrypto
import StrongroomMetrics
import Testing
import Strongroom
@testable import StrongroomCore
@testable import StrongroomHSM

extension HSMTierTests {
    /// With one worker session, concurrent loads on a slow token wait for it, and the pool counts the
    /// waits and their time; a module finalised behind the connection's back makes it reconnect, and
    /// the reconnect is counted (docs/metrics.md). Other suites may add to the same counters, so the
    /// checks are on growth.
    @Test func sessionPoolWaitsAndReconnectsAreCounted() async throws {
        let metrics = PrometheusMetrics.bootstrap()
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let module = try isolatedModule(directory)
        var configured = environment.settings(blobPath: "\(directory.path)/vault", token: environment.tokenB, module: module)
        configured.maxSessions = 1
        let settings = configured
        _ = try await HSMVault.initialise(settings, logger: quietLogger)
        let store = try await HSMVault.open(settings, logger: quietLogger)
        let share = try id("pool-waits")
        _ = try await store.store(share, secret("one session"))
        let connection = try #require(store.keyring as? HSMKeyring).connection
        let before = Exposition(metrics.exposition())

        connection.simulatedLatency = .milliseconds(20)
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 { group.addTask { text(try await store.load(share)) == "one session" } }
            for try await same in group { #expect(same) }
        }
        connection.simulatedLatency = .zero
        let reconnectsBefore = connection.reconnectCount
        let raw = try PKCS11Module.load(path: module)
        #expect(raw.behindTheLayersBack(finalize: true, initialize: true).finalize == 0)
        #expect(text(try await store.load(share)) == "one session")
        #expect(connection.reconnectCount > reconnectsBefore)

        let after = Exposition(metrics.exposition())
        func growth(_ name: String) -> Double { after.value(name, [:]) - before.value(name, [:]) }
        #expect(growth("strongroom_hsm_session_waits_total") >= 1)
        #expect(growth("strongroom_hsm_session_wait_seconds_count") >= 1)
        // Each wait lasted at least part of another load's 20 ms.
        #expect(growth("strongroom_hsm_session_wait_seconds_sum") > 0.001)
        #expect(growth("strongroom_hsm_reconnects_total") >= 1)
        #expect(after.types["strongroom_hsm_reconnects_total"] == "counter")
        #expect(after.types["strongroom_hsm_session_wait_seconds"] == "histogram")
        try await HSMVault.destroyKeys(settings, logger: quietLogger)
    }
}
