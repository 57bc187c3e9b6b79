internal import CSodium
import FROST
import Foundation
import Logging
import SecureCrypto
import Strongroom

/// Part 2 of `strongroom demo`: a 2-of-3 FROST group whose participants keep their shares in
/// different tiers where they are available.
struct FrostDemo {
    let base: String
    let logger: Logger

    typealias Step = (String, () async throws -> Void) async throws -> Void

    struct Participant {
        let id: ParticipantID
        let store: ShareStore
        let label: String
        let cleanup: @Sendable () async -> Void
    }

    func openParticipants() async throws -> [Participant] {
        let environment = ProcessInfo.processInfo.environment
        func local(_ id: ParticipantID, _ why: String) async throws -> Participant {
            let settings = StrongroomConfiguration.Local(path: "\(base)/frost-p\(id)")
            _ = try await LocalVault.initialise(settings, logger: logger)
            return Participant(id: id, store: try await LocalVault.open(settings, logger: logger), label: "local (tier 1)\(why)", cleanup: {})
        }
        var participants = [try await local(1, "")]

        if let module = environment["STRONGROOM_HSM_MODULE"], let token = environment["STRONGROOM_HSM_TOKEN"], !module.isEmpty, !token.isEmpty,
            FileManager.default.fileExists(atPath: module)
        {
            let settings = StrongroomConfiguration.HSM(modulePath: module, tokenLabel: token, blobPath: "\(base)/frost-p2")
            _ = try await HSMVault.initialise(settings, logger: logger)
            participants.append(
                Participant(
                    id: 2, store: try await HSMVault.open(settings, logger: logger), label: "hsm (tier 3, PKCS#11 token '\(token)')",
                    cleanup: { [logger] in try? await HSMVault.destroyKeys(settings, logger: logger) }))
        } else {
            participants.append(try await local(2, " — tier 3 skipped: set STRONGROOM_HSM_MODULE, STRONGROOM_HSM_TOKEN and STRONGROOM_HSM_PIN"))
        }

        if let endpoint = environment["STRONGROOM_DEMO_S3_ENDPOINT"], let bucket = environment["STRONGROOM_DEMO_S3_BUCKET"], !endpoint.isEmpty, !bucket.isEmpty {
            let prefix = "strongroom-demo-\(Hex.encode(try SecureRandom.bytes(count: 6)))/"
            let settings = StrongroomConfiguration.Cloud(
                storage: StrongroomConfiguration.ObjectStorage(
                    endpoint: endpoint, region: environment["AWS_DEFAULT_REGION"] ?? "us-east-1", bucket: bucket, prefix: prefix),
                keyDeletionWindowDays: 7)
            _ = try await CloudVault.initialise(settings, logger: logger)
            participants.append(
                Participant(
                    id: 3, store: try await CloudVault.open(settings, logger: logger), label: "cloud (tier 2, s3://\(bucket)/\(prefix) + KMS)",
                    cleanup: { [logger] in await CloudVault.removeEverything(settings, logger: logger) }))
        } else {
            participants.append(try await local(3, " — tier 2 skipped: set STRONGROOM_DEMO_S3_ENDPOINT and STRONGROOM_DEMO_S3_BUCKET"))
        }
        return participants
    }

    func run(_ step: Step) async throws {
        print("\nPart 2 — FROST(Ed25519) threshold signing, 2-of-3, shares kept in Strongroom\n")
        let participants = try await openParticipants()
        do {
            try await story(participants, step)
        } catch {
            for p in participants { await p.cleanup() }
            throw error
        }
        for p in participants { await p.cleanup() }
    }

    func story(_ participants: [Participant], _ step: Step) async throws {
        for p in participants { print("   participant \(p.id): \(p.label)") }
        let group = try FROSTGroup(
            name: "demo", stores: Dictionary(uniqueKeysWithValues: participants.map { ($0.id, $0.store) }), logger: logger)

        var groupKey: Element?
        try await step("FROST DKG 2-of-3") {
            groupKey = try await group.create(suite: .ed25519, minSigners: 2, method: .distributed).groupKey
        }
        print("7. distributed key generation (Pedersen DKG, proofs of knowledge): group key \(groupKey!)")
        print("   each key package is a share 'frost.demo.p<i>' in its participant's vault; the public record sits beside it")

        func signAndCheck(_ signers: [ParticipantID], _ text: String, _ label: String) async throws {
            let message = Array(text.utf8)
            var signature: [UInt8] = []
            try await step("FROST sign \(signers.map(String.init).joined(separator: "+"))") {
                signature = try await group.sign(message: message, signers: signers).serialized()
            }
            let key = try groupKey!.serialize()
            let libsodium = crypto_sign_verify_detached(signature, message, UInt64(message.count), key) == 0
            guard libsodium else { throw FROSTError(.invalidSignature, "the demo signature did not verify") }
            print("\(label) participants \(signers.map(String.init).joined(separator: " and ")) signed \"\(text)\": \(Hex.encode(Array(signature.prefix(16))))… (64 bytes); libsodium crypto_sign_verify_detached: valid")
        }
        try await signAndCheck([1, 2], "demo payment #1", "8.")

        try await step("rotate 3 wrapping keys") {
            for p in participants {
                let report = try await p.store.rotateWrappingKey()
                print("9. participant \(p.id)'s vault rotated to KEK version \(report.targetVersion): \(report.rewrapped) data key(s) rewrapped")
            }
        }
        try await signAndCheck([2, 3], "demo payment #2", "10.")

        var refreshed: RefreshReport?
        try await step("FROST refresh") { refreshed = try await group.refresh() }
        print("11. refreshed the shares to epoch \(refreshed!.epoch): new versions stored, confirmed by a test signature, then \(refreshed!.erasedVersions) old version(s) destroyed; group key unchanged: \(try await group.publicKeyPackage().groupKey == groupKey!)")
        try await signAndCheck([1, 3], "demo payment #3", "12.")

        try await step("erase participant 3") { _ = try await group.erase(3) }
        print("13. erased participant 3's key share (every version)")
        do {
            _ = try await group.sign(message: Array("after erase".utf8), signers: [1, 3])
            throw FROSTError(.groupState, "the erased share still signed")
        } catch let error as FROSTError where error.code == .shareGone {
            print("    signing with participant 3 now fails: \(error.reason)")
        }
        try await signAndCheck([1, 2], "demo payment #4", "    the other two still sign:")
        _ = try await group.erase(1)
        _ = try await group.erase(2)
        print("14. erased the remaining shares; the demo vaults and keys are removed next")
    }
}
