internal import CSodium
import FROST
import Foundation
import Logging
import SecureCrypto
import Strongroom

/// `strongroom bench --frost`: the FROST engine's rates, with one single-party libsodium Ed25519
/// signature measured in the same run as the reference.
struct FrostBench {
    let bench: BenchCommand
    let base: String
    let logger: Logger

    func timed(_ op: String, count: Int, _ body: (Int) async throws -> Void) async throws -> Duration {
        // One untimed round warms caches and the allocator.
        try await body(0)
        let start = ContinuousClock.now
        for index in 0..<count { try await body(index) }
        let elapsed = ContinuousClock.now - start
        bench.report(op: op, concurrency: 1, count: count, elapsed: elapsed)
        return elapsed / count
    }

    func stores(_ name: String, _ count: Int) async throws -> [ParticipantID: ShareStore] {
        var stores: [ParticipantID: ShareStore] = [:]
        for id in 1...count {
            let settings = StrongroomConfiguration.Local(path: "\(base)/\(name)-p\(id)")
            _ = try await LocalVault.initialise(settings, logger: logger)
            stores[ParticipantID(id)] = try await LocalVault.open(settings, logger: logger)
        }
        return stores
    }

    func run() async throws {
        let n = bench.frostCount
        let message = Array("strongroom benchmark message".utf8)

        // Reference: one single-party Ed25519 signature with libsodium.
        var publicKey = [UInt8](repeating: 0, count: 32)
        let secretKey = try SecretBytes(count: 64) { buffer in
            _ = crypto_sign_keypair(&publicKey, buffer.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        var signature = [UInt8](repeating: 0, count: 64)
        let reference = try await timed("ed25519_sign_libsodium", count: n * 20) { _ in
            secretKey.withUnsafeBytes { key in
                _ = crypto_sign_detached(&signature, nil, message, UInt64(message.count), key.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }

        var ratios: [(String, Double)] = []
        for suite in [Ciphersuite.ed25519, .secp256k1] {
            let tag = suite.shortName
            // Key generation, in memory.
            _ = try await timed("frost_\(tag)_keygen_dealer_2of3", count: max(n / 5, 10)) { _ in
                _ = try FROST.trustedDealerKeygen(suite: suite, minSigners: 2, maxSigners: 3)
            }
            _ = try await timed("frost_\(tag)_keygen_dkg_2of3", count: max(n / 10, 10)) { _ in
                _ = try FROSTGroup.generate(suite: suite, minSigners: 2, maxSigners: 3, method: .distributed)
            }
            // DKG with every key package stored in its own tier 1 vault.
            let keygenStores = try await stores("\(tag)-keygen", 3)
            _ = try await timed("frost_\(tag)_keygen_dkg_2of3_tier1", count: max(n / 20, 5)) { index in
                let group = try FROSTGroup(name: "k\(index)-\(Int.random(in: 0..<1_000_000))", stores: keygenStores, logger: logger)
                _ = try await group.create(suite: suite, minSigners: 2, method: .distributed)
            }

            // Signing, all parties in this process, key packages in memory: the protocol alone.
            let dealt = try FROST.trustedDealerKeygen(suite: suite, minSigners: 2, maxSigners: 3)
            let signers = [dealt.keyPackages[0], dealt.keyPackages[2]]
            let memory = try await timed("frost_\(tag)_sign_2of3_memory", count: n) { _ in
                let nonces = try signers.map { try FROST.commit($0) }
                let package = try SigningPackage(suite: suite, commitments: nonces.map(\.commitments), message: message)
                let shares = try zip(signers, nonces).map { try FROST.sign(package, nonces: $1, keyPackage: $0) }
                _ = try FROST.aggregate(package, shares: shares, publicKeys: dealt.publicKeyPackage)
            }

            // Signing with the key packages loaded from tier 1 for each round, as the engine does.
            for (t, total) in [(UInt16(2), 3), (UInt16(3), 5)] {
                let group = try FROSTGroup(name: "s\(t)of\(total)", stores: try await stores("\(tag)-s\(t)of\(total)", total), logger: logger)
                _ = try await group.create(suite: suite, minSigners: t, method: .distributed)
                let chosen = Array(1...t)
                let stored = try await timed("frost_\(tag)_sign_\(t)of\(total)_tier1", count: n) { _ in
                    _ = try await group.sign(message: message, signers: chosen)
                }
                if suite == .ed25519 && t == 2 { ratios.append(("2-of-3 Ed25519 from tier 1", stored / reference)) }
            }
            if suite == .ed25519 { ratios.insert(("2-of-3 Ed25519 in memory", memory / reference), at: 0) }

            // Refresh: new shares for all, test signature, old versions destroyed.
            let refreshGroup = try FROSTGroup(name: "refresh", stores: try await stores("\(tag)-refresh", 3), logger: logger)
            _ = try await refreshGroup.create(suite: suite, minSigners: 2, method: .distributed)
            _ = try await timed("frost_\(tag)_refresh_2of3_tier1", count: max(n / 10, 10)) { _ in
                _ = try await refreshGroup.refresh()
            }
        }
        for (label, ratio) in ratios {
            if bench.json {
                print("{\"impl\":\"strongroom\",\"tier\":\"local\",\"op\":\"frost_ratio\",\"what\":\"\(label)\",\"times_libsodium_sign\":\(String(format: "%.2f", ratio))}")
            } else {
                print("\(label): \(String(format: "%.1f", ratio))x the time of one libsodium Ed25519 signature (target: within 25x)")
            }
        }
    }
}
