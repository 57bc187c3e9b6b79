#if canImport(Glibc)
import Glibc
#endif
import AWSClient
import Foundation
import Logging
import SecureCrypto
import Testing
import Strongroom
@testable import StrongroomCloud
@testable import StrongroomCore
@testable import StrongroomHSM
@testable import StrongroomLocal

/// Tier 2 after a killed run, against moto: KMS keys a killed rotation made are adopted or scheduled
/// for deletion, a dead lease holder's lease is taken over at once, a live one's is waited for with
/// the time left said.
@Suite struct CloudCrashTests {
    let environment: CloudTestEnvironment

    init() throws {
        environment = try CloudTestEnvironment.require()
    }

    func withVault(_ label: String, _ body: (StrongroomConfiguration.Cloud, String) async throws -> Void) async throws {
        let prefix = try CloudTestEnvironment.freshPrefix(label)
        let settings = try environment.settings(prefix: prefix)
        _ = try await CloudVault.initialise(settings, logger: quietLogger)
        do {
            try await body(settings, prefix)
        } catch {
            await environment.removeEverything(under: prefix)
            throw error
        }
        await environment.removeEverything(under: prefix)
    }

    /// Every KMS key tagged with the vault, with its state.
    func keysTagged(vault: String) async throws -> [KMSKeyMetadata] {
        let kms = try environment.kmsClient()
        var found: [KMSKeyMetadata] = []
        for id in try await kms.listKeys() {
            guard let tags = try? await kms.listResourceTags(id), tags["strongroom:vault"] == vault else { continue }
            found.append(try await kms.describeKey(id))
        }
        return found
    }

    func keyMap(_ prefix: String) async throws -> KMSKeyMap.File {
        let map = try #require(try await environment.s3Client().getObject(prefix + KMSKeyMap.key))
        return try JSONDecoder().decode(KMSKeyMap.File.self, from: Data(map.bytes))
    }

    @Test func rotationKilledAfterCreateKeyLeavesNoEnabledUnrecordedKey() async throws {
        try await withVault("killed-createkey") { settings, prefix in
            let store = try await CloudVault.open(settings, logger: quietLogger)
            _ = try await store.store(try ShareID("s"), try secret("kept"))
            let crashing = try await CloudVault.open(
                settings, lockTimeout: .seconds(30), logger: quietLogger,
                faults: FaultInjection { if $0 == .kekCreated { throw SimulatedCrash() } })
            await #expect(throws: SimulatedCrash.self) { try await crashing.rotateWrappingKey() }
            let vault = store.vaultID.hex
            let orphans = try await keysTagged(vault: vault).filter { $0.keyState == "Enabled" }
            try #require(orphans.count == 1, "the killed run made one key")
            #expect(try await keyMap(prefix).intents?.map(\.version) == [2], "its intent is recorded")

            let report = try await CloudVault.open(settings, logger: quietLogger).rotateWrappingKey()
            #expect(report.targetVersion == 2 && report.rewrapped == 1)
            let map = try await keyMap(prefix)
            #expect(map.intents == nil)
            #expect(map.keys.map(\.version) == [1, 2])
            // The killed run's key became version 2; nothing tagged with the vault is Enabled and unrecorded.
            #expect(KMSKeyMap.sameKey(map.keys[1].keyID, orphans[0].arn))
            for key in try await keysTagged(vault: vault) where key.keyState == "Enabled" {
                #expect(map.keys.contains { KMSKeyMap.sameKey($0.keyID, key.arn) }, "\(key.arn) is Enabled and not recorded")
            }
            #expect(text(try await CloudVault.open(settings, logger: quietLogger).load(try ShareID("s"))) == "kept")
        }
    }

    /// Writes the lease object a process holding the vault's exclusive lock would have written.
    func writeLease(_ prefix: String, holder: LeaseHolder, expiresIn seconds: Int) async throws {
        var fields = holder.fields
        fields["owner"] = "killed"
        fields["expiresAt"] = Int(Date().timeIntervalSince1970) + seconds
        let body = Array(try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]))
        _ = try await environment.s3Client().putObject(prefix + "locks/exclusive.json", body, condition: .none)
    }

    /// A process, started and then killed with SIGKILL (and reaped): its PID is gone.
    func killedProcess() throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sleep")
        process.arguments = ["60"]
        try process.run()
        let pid = process.processIdentifier
        kill(pid, SIGKILL)
        process.waitUntilExit()
        return pid
    }

    @Test func leaseOfAKilledProcessOnThisHostIsTakenOverAtOnce() async throws {
        try await withVault("dead-lease") { settings, prefix in
            let store = try await CloudVault.open(settings, logger: quietLogger)
            _ = try await store.store(try ShareID("s"), try secret("v"))
            var holder = LeaseHolder.current
            holder.pid = try killedProcess()
            holder.startTime = nil
            // The lease would last 10 minutes, far beyond the lock timeout: only a takeover gets it.
            try await writeLease(prefix, holder: holder, expiresIn: 600)
            let waiting = try await CloudVault.open(settings, lockTimeout: .seconds(5), logger: quietLogger)
            _ = try await waiting.rotateWrappingKey()
            #expect(try await environment.s3Client().getObject(prefix + "locks/exclusive.json") == nil, "released")
        }
    }

    @Test func liveOrForeignLeaseHolderIsWaitedForWithTheTimeLeft() async throws {
        try await withVault("live-lease") { settings, prefix in
            let live = Process()
            live.executableURL = URL(fileURLWithPath: "/bin/sleep")
            live.arguments = ["3600"]  // killed at the end; it must outlive a slow run
            try live.run()
            defer {
                kill(live.processIdentifier, SIGKILL)
                live.waitUntilExit()
            }
            var alive = LeaseHolder.current
            alive.pid = live.processIdentifier
            alive.startTime = LeaseHolder.processStart(live.processIdentifier)?.start
            var elsewhere = LeaseHolder.current
            elsewhere.host = "another-host"
            elsewhere.pid = try killedProcess()
            var rebooted = LeaseHolder.current
            rebooted.bootID = "00000000-0000-0000-0000-000000000000"
            rebooted.pid = try killedProcess()
            for holder in [alive, elsewhere, rebooted] {
                // 600 s: far beyond what a loaded CI machine takes to get to the rotation (a run that
                // took 400 s for this test under full load found its holder gone: a 40 s lease, a 60 s `sleep`).
                try await writeLease(prefix, holder: holder, expiresIn: 600)
                let store = try await CloudVault.open(settings, lockTimeout: .seconds(1), logger: quietLogger)
                let busy = await #expect(throws: StrongroomError.self) { try await store.rotateWrappingKey() }
                #expect(busy?.code == .vaultBusy)
                let reason = busy?.reason ?? ""
                #expect(reason.contains("pid \(holder.pid)"), "\(reason)")
                let left = reason.range(of: "expires in ").flatMap { Int(reason[$0.upperBound...].prefix { $0.isNumber }) }
                #expect(left.map { (5...606).contains($0) } == true, "\(reason)")  // 600 s less the time a loaded machine took
            }
            // A PID now used by another process than the one that wrote the lease counts as gone.
            var reused = alive
            reused.startTime = (alive.startTime ?? 0) + 1
            try await writeLease(prefix, holder: reused, expiresIn: 40)
            _ = try await CloudVault.open(settings, lockTimeout: .seconds(10), logger: quietLogger).rotateWrappingKey()
        }
    }
}
