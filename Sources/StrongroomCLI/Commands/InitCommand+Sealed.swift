import ArgumentParser
import Foundation
import Logging
import SecureCrypto
import Strongroom

/// `strongroom init --sealed`: a tier 1 vault whose root seed file is sealed to T of N custodian parts
/// (docs/server.md, "Sealed mode and unseal ceremonies").
struct SealedInitOptions: ParsableArguments {
    @Flag(
        name: .long,
        help: "Tier 1: seal the new root seed to custodian parts (needs local.seal: sealed); the vault then opens only in `strongroom serve`, after `strongroom unseal`.")
    var sealed = false

    @Option(name: .long, help: ArgumentHelp("With --sealed: how many custodian parts to make (N, 2 to 255).", valueName: "N"))
    var custodians: Int?

    @Option(name: .long, help: ArgumentHelp("With --sealed: how many parts unseal the vault (T, 2 to N).", valueName: "T"))
    var threshold: Int?

    @Option(name: .long, help: ArgumentHelp("With --sealed: directory for the part files (created 0700; must hold none).", valueName: "dir"))
    var partsDir: String?

    @Option(
        name: .long,
        help: ArgumentHelp("With --sealed: read the custodians' new passphrases from this open file descriptor, one per line.", valueName: "fd"))
    var passphraseFd: Int32?

    /// Whether the configuration asks for a sealed vault (then `--sealed` is required).
    func requested(by configuration: StrongroomConfiguration) -> Bool {
        (configuration.settings as? StrongroomConfiguration.Local)?.sealed ?? false
    }

    /// The checked N, T and directory.
    func checked(_ configuration: StrongroomConfiguration) throws -> (local: StrongroomConfiguration.Local, custodians: Int, threshold: Int, partsDir: String) {
        guard let local = configuration.settings as? StrongroomConfiguration.Local else {
            throw StrongroomError(.invalidInput, "--sealed is for tier 1 (local) vaults; this configuration is tier \(configuration.tier)")
        }
        guard local.sealed, sealed else {
            throw StrongroomError(
                .configuration,
                local.sealed
                    ? "the configuration says local.seal: sealed: pass --sealed --custodians N --threshold T --parts-dir DIR to make the custodian parts; nothing was created"
                    : "--sealed needs local.seal: sealed in the configuration (else the vault could not be opened); nothing was created")
        }
        guard let custodians, let threshold, let partsDir else {
            throw StrongroomError(.invalidInput, "--sealed needs --custodians N, --threshold T and --parts-dir DIR; nothing was created")
        }
        guard threshold >= 2, threshold <= custodians, custodians <= 255 else {
            throw StrongroomError(
                .invalidInput,
                "need 2 <= --threshold <= --custodians <= 255, got --threshold \(threshold) --custodians \(custodians); nothing was created")
        }
        return (local, custodians, threshold, partsDir)
    }
}

/// Custodian parts being made: the passphrases (kept in locked memory until the parts are verified),
/// the key and the part files' bytes.
struct CustodianSplit {
    let publicKey: RecoveryPublicKey
    let names: [String]
    let parts: [[UInt8]]
    let passphrases: [SecretBytes]
    let threshold: Int

    /// Asks every custodian for a new passphrase (before anything is written), then splits a new key.
    static func make(custodians: Int, threshold: Int, passphraseFd: Int32?) async throws -> CustodianSplit {
        let reader = try PassphraseReader(passphraseFD: passphraseFd)
        let names = (1...custodians).map { "part-\($0)-of-\(custodians).srpart" }
        var passphrases: [SecretBytes] = []
        for index in 1...custodians {
            passphrases.append(try reader.newPassphrase(for: "custodian \(index) of \(custodians) (\(names[index - 1]))"))
        }
        let given = passphrases
        let (publicKey, parts) = try await RecoveryCustodians.create(custodians: custodians, threshold: threshold) { index in
            given[index - 1]
        }
        return CustodianSplit(publicKey: publicKey, names: names, parts: parts, passphrases: passphrases, threshold: threshold)
    }

    /// Opens `sealed` with the first T parts (read back as written) and their passphrases: the seed.
    func open(_ sealed: SealedRootSeed, source: String) async throws -> SecretBytes {
        let chosen = (0..<threshold).map { (source: names[$0], bytes: parts[$0]) }
        let lookup = Dictionary(uniqueKeysWithValues: (0..<threshold).map { (names[$0], passphrases[$0]) })
        let (privateKey, _) = try await RecoveryCustodians.combine(parts: chosen) { name in lookup[name]! }
        return try sealed.open(privateKey: privateKey, source: source)
    }

    func write(into directory: RecoveryOutputDirectory) throws {
        try directory.writeNewFiles(names.indices.map { (name: names[$0], bytes: parts[$0]) })
    }

    func printParts(_ directory: RecoveryOutputDirectory) {
        for (index, name) in names.enumerated() {
            print("  part \(index + 1) of \(names.count): \(directory.display(name))")
        }
    }
}

extension InitCommand {
    /// `init --sealed`: the parts are made (and the passphrases read) before anything is created; the
    /// vault's seed file holds only the sealed seed; the parts are written and fsynced; the new vault is
    /// opened with the seed still in memory for its first audit record.
    func runSealed(logger: Logger) async throws {
        let configuration = try await options.loadConfiguration()
        let (local, custodians, threshold, partsDir) = try sealing.checked(configuration)
        guard recoveryKey == nil else {
            throw StrongroomError(
                .invalidInput, "--recovery-key cannot be enrolled while creating a sealed vault; enrol it through the server after unsealing; nothing was created")
        }
        let directory = try RecoveryOutputDirectory(path: partsDir)
        defer { directory.close() }
        let split = try await CustodianSplit.make(
            custodians: custodians, threshold: threshold, passphraseFd: sealing.passphraseFd)
        let (vaultID, seed) = try await LocalVault.initialise(
            local, sealedTo: (split.publicKey, custodians, threshold), logger: logger)
        // The sealed file as written must open with the parts before they are handed out.
        let written = try SealedRootSeed.read(local.rootSeedFile)
        guard try await split.open(written, source: local.rootSeedFile) == seed else {
            throw StrongroomError(.integrityCheckFailed, "the sealed root seed \(local.rootSeedFile) does not open to the new seed; remove \(local.path) and try again")
        }
        do {
            try split.write(into: directory)
        } catch {
            throw StrongroomError(
                .io, "the custodian parts could not be written to \(partsDir), so the new vault at \(local.path) cannot be unsealed: remove it and \(local.rootSeedFile), then run init again",
                underlying: error)
        }
        let store = try await LocalVault.open(local, rootSeed: seed, lockTimeout: configuration.lockTimeout, logger: logger)
        store.configureAudit(configuration.audit)
        try await store.recordAudit(
            AuditEvent(
                .initialise, kekVersions: [1],
                details: [
                    "sealed": "true", "seal.custodians": "\(custodians)", "seal.threshold": "\(threshold)",
                    "seal.fingerprint": split.publicKey.fingerprintText,
                ]))
        try await store.checkpointAudit()
        print("created vault \(vaultID.hex)")
        print("  directory: \(local.path) (0700)")
        print("  root seed: \(local.rootSeedFile) (0600), sealed to \(threshold) of \(custodians) custodian parts")
        print("  custodians' key: \(split.publicKey.fingerprintText)")
        split.printParts(directory)
        print(
            "Give each part file to its custodian. The vault opens only in `strongroom serve`, unsealed by any \(threshold) custodians with `strongroom unseal --server ADDRESS --part FILE`.")
    }
}
