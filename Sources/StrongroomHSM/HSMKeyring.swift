import Logging
import PKCS11
import SecureCrypto
import StrongroomCore
import StrongroomLocal
import StrongroomCloud

/// Tier 3: the KEK is a non-extractable AES-256 token object in a PKCS#11 HSM; each share version
/// gets a data key generated inside the HSM as a session object; the share is sealed by `C_Encrypt`
/// (`CKM_AES_GCM`, the envelope header as AAD) and the data key wrapped with `CKM_AES_KEY_WRAP`.
/// Neither key ever leaves the HSM in the clear; rotation unwraps under the old KEK and wraps under
/// the new one inside the HSM.
public final class HSMKeyring: Keyring {
    public let tier = Tier.hsm
    /// The KEK label prefix: `strongroom/<vault id>`; version *v* is labelled `<prefix>/kek/<v>`.
    public let kekID: String
    let vaultID: VaultID
    let connection: PKCS11Connection
    /// Whether new objects are `CKA_PRIVATE`: only after a login (a token without
    /// `CKF_LOGIN_REQUIRED` used without a PIN cannot make private objects).
    let privateObjects: Bool

    static let wrapMechanism = Mechanism.aesKeyWrap
    static let wrappedKeySize = 40
    static let ivSize = 12
    static let tagSize = 16

    init(vaultID: VaultID, connection: PKCS11Connection) {
        self.vaultID = vaultID
        self.kekID = "strongroom/\(vaultID.hex)"
        self.connection = connection
        self.privateObjects = connection.isLoggedIn
    }

    /// The label of KEK version `version`.
    public func kekLabel(_ version: UInt32) -> String { "\(kekID)/kek/\(version)" }

    var tokenName: String { connection.token.map { "'\($0.label)'" } ?? "\(connection.selector)" }

    // MARK: Templates

    static func kekTemplate(label: String, id: [UInt8], token: Bool = true, private: Bool = true) -> [Attribute] {
        [
            .objectClass(.secretKey), .keyType(.aes), .valueLength(32), .token(token), .private(`private`),
            .sensitive(true), .extractable(false), .wrap(true), .unwrap(true), .encrypt(false), .decrypt(false),
            .label(label), .id(id),
        ]
    }

    static func dataKeyTemplate(private: Bool = true) -> [Attribute] {
        [
            .objectClass(.secretKey), .keyType(.aes), .valueLength(32), .token(false), .private(`private`),
            .sensitive(true), .extractable(true), .encrypt(true), .decrypt(true),
        ]
    }

    /// A data key the store made, imported by `C_CreateObject` (the value is added by the session).
    static func importedDataKeyTemplate(private: Bool = true) -> [Attribute] {
        [
            .objectClass(.secretKey), .keyType(.aes), .token(false), .private(`private`), .sensitive(true),
            .extractable(true), .encrypt(true), .decrypt(false),
        ]
    }

    /// A data key unwrapped to be used (decrypt only) or to be wrapped again (extractable).
    static func unwrappedTemplate(extractable: Bool, private: Bool = true) -> [Attribute] {
        [
            .objectClass(.secretKey), .keyType(.aes), .token(false), .private(`private`), .sensitive(true),
            .extractable(extractable), .decrypt(!extractable), .encrypt(false),
        ]
    }

    // MARK: Keyring

    public func seal(_ share: SecretBytes, associatedData: [UInt8], kekVersion: UInt32) async throws -> SealedShare {
        let iv = try SecureRandom.bytes(count: HSMKeyring.ivSize)
        return try await run("seal", integrityPath: false) { session in
            let kek = try kekHandle(session, kekVersion)
            let dataKey = try session.generateAESKey(HSMKeyring.dataKeyTemplate(private: privateObjects))
            defer { try? session.destroy(dataKey) }
            let sealed = try session.encryptGCM(key: dataKey, iv: iv, aad: associatedData, plaintext: share)
            let wrapped = try session.wrap(dataKey, with: kek, mechanism: HSMKeyring.wrapMechanism)
            return SealedShare(
                kekVersion: kekVersion, wrapMechanism: UInt32(HSMKeyring.wrapMechanism.rawValue), wrappedKey: wrapped,
                iv: iv, ciphertext: sealed.ciphertext, tag: sealed.tag)
        }
    }

    /// Seals `share` under the store's `dataKey` (a vault with a recovery key: the data key is made on
    /// the host so that it can also be sealed to the recovery key). The key enters the HSM as a
    /// session object (`C_CreateObject`: sensitive, extractable so the KEK can wrap it), seals the
    /// share by `C_Encrypt` and is wrapped under the KEK like a generated one, then destroyed.
    public func seal(_ share: SecretBytes, dataKey: SecretBytes, associatedData: [UInt8], kekVersion: UInt32) async throws
        -> SealedShare
    {
        guard dataKey.count == 32 else {
            throw StrongroomError(.invalidInput, "a data key is 32 bytes, got \(dataKey.count)")
        }
        let iv = try SecureRandom.bytes(count: HSMKeyring.ivSize)
        return try await run("seal", integrityPath: false) { session in
            let kek = try kekHandle(session, kekVersion)
            let key = try session.createSecretKey(HSMKeyring.importedDataKeyTemplate(private: privateObjects), value: dataKey)
            defer { try? session.destroy(key) }
            let sealed = try session.encryptGCM(key: key, iv: iv, aad: associatedData, plaintext: share)
            let wrapped = try session.wrap(key, with: kek, mechanism: HSMKeyring.wrapMechanism)
            return SealedShare(
                kekVersion: kekVersion, wrapMechanism: UInt32(HSMKeyring.wrapMechanism.rawValue), wrappedKey: wrapped,
                iv: iv, ciphertext: sealed.ciphertext, tag: sealed.tag)
        }
    }

    public func open(_ sealed: SealedShare, associatedData: [UInt8]) async throws -> SecretBytes {
        try check(sealed)
        return try await run("open", integrityPath: true) { session in
            let kek = try kekHandle(session, sealed.kekVersion)
            let dataKey = try session.unwrap(
                sealed.wrappedKey, with: kek, mechanism: HSMKeyring.wrapMechanism,
                template: HSMKeyring.unwrappedTemplate(extractable: false, private: privateObjects))
            defer { try? session.destroy(dataKey) }
            return try session.decryptGCM(
                key: dataKey, iv: sealed.iv, aad: associatedData, ciphertext: sealed.ciphertext, tag: sealed.tag)
        }
    }

    public func rewrap(_ sealed: SealedShare, associatedData: [UInt8], to target: UInt32) async throws -> SealedShare {
        try check(sealed)
        return try await run("rewrap", integrityPath: true) { session in
            let oldKEK = try kekHandle(session, sealed.kekVersion)
            let newKEK = try kekHandle(session, target)
            let dataKey = try session.unwrap(
                sealed.wrappedKey, with: oldKEK, mechanism: HSMKeyring.wrapMechanism,
                template: HSMKeyring.unwrappedTemplate(extractable: true, private: privateObjects))
            defer { try? session.destroy(dataKey) }
            let wrapped = try session.wrap(dataKey, with: newKEK, mechanism: HSMKeyring.wrapMechanism)
            // Verify before anything is written: the new wrapping must unwrap under the new KEK to a
            // key that opens this very ciphertext (the GCM tag checks it inside the HSM).
            let check = try session.unwrap(
                wrapped, with: newKEK, mechanism: HSMKeyring.wrapMechanism,
                template: HSMKeyring.unwrappedTemplate(extractable: false, private: privateObjects))
            defer { try? session.destroy(check) }
            _ = try session.decryptGCM(
                key: check, iv: sealed.iv, aad: associatedData, ciphertext: sealed.ciphertext, tag: sealed.tag)
            var result = sealed
            result.kekVersion = target
            result.wrappedKey = wrapped
            return result
        }
    }

    /// Makes KEK version `version` ready: finds it by label or generates it, then checks it (see
    /// ``makeUsableKEK(version:)``); an unusable object left by a killed run is destroyed (or moved
    /// aside) and replaced. Called before the rotation journal names the version, so nothing can be
    /// sealed under it yet.
    public func prepareKEK(version: UInt32) async throws {
        try await makeUsableKEK(version: version)
    }

    /// A resumed rotation's target KEK must still be usable. A vault whose journal names an unusable
    /// KEK (written by a release that did not check new KEKs) gets a new one, but only when no blob
    /// is sealed under that version; otherwise nothing is touched and the error says so.
    public func resumeKEK(version: UInt32, anySealedUnder: () async throws -> Bool) async throws {
        let problem = try await run("check KEK", integrityPath: false) { session -> String? in
            guard let handle = try session.key(labelled: kekLabel(version)) else { return "it is not on the token" }
            return kekProblem(handle, version: version, session: session)
        }
        guard let problem else { return }
        if try await anySealedUnder() {
            throw StrongroomError(
                .hsmUnavailable,
                "the rotation's new KEK '\(kekLabel(version))' on HSM token \(tokenName) is unusable (\(problem)) and blobs are already sealed under it, so Strongroom will not replace it; restore the token from its backup (see the recovery and migration issue: recovery key, custodians)")
        }
        connection.logger.warning(
            "the pending rotation's new KEK is unusable and nothing is sealed under it; replacing it",
            metadata: ["hsm.kek": "\(kekLabel(version))", "hsm.problem": "\(problem)"])
        try await makeUsableKEK(version: version)
    }

    public func retireKEKs(olderThan version: UInt32) async throws {
        guard version > 1 else { return }
        try await tokenWrite("destroy old KEKs") { session in
            try connection.module.serializingTokenWrites {
                for old in 1..<version {
                    let label = kekLabel(old)
                    guard let handle = try session.key(labelled: label) else { continue }
                    try session.destroy(handle)
                    connection.forgetKey(labelled: label)
                }
            }
        }
    }

    /// Checks that KEK version `version` is on the token (for opening a vault).
    func requireKEK(version: UInt32) async throws {
        try await run("find KEK", integrityPath: false) { session in _ = try kekHandle(session, version) }
    }

    // MARK: Helpers

    private func kekHandle(_ session: PKCS11Session, _ version: UInt32) throws -> ObjectHandle {
        guard let handle = try session.key(labelled: kekLabel(version)) else {
            throw StrongroomError(
                .keyUnavailable,
                "KEK '\(kekLabel(version))' is not on HSM token \(tokenName); is this the vault's token, and was the KEK destroyed?")
        }
        return handle
    }

    private func check(_ sealed: SealedShare) throws(StrongroomError) {
        guard sealed.wrapMechanism == UInt32(HSMKeyring.wrapMechanism.rawValue) else {
            throw StrongroomError(
                .integrityCheckFailed,
                "the blob names wrap mechanism 0x\(String(sealed.wrapMechanism, radix: 16)); tier 3 uses CKM_AES_KEY_WRAP (0x2109)")
        }
        guard sealed.wrappedKey.count == HSMKeyring.wrappedKeySize, sealed.iv.count == HSMKeyring.ivSize,
            sealed.tag.count == HSMKeyring.tagSize
        else {
            throw StrongroomError(.integrityCheckFailed, "the blob's wrapped key, IV or tag has the wrong length")
        }
    }

    /// Runs a token-object write (KEK creation or destruction; find-then-write, so idempotent).
    /// SoftHSM's file object store answers `CKR_GENERAL_ERROR` when another process writes the same
    /// token at that moment, so such a write is tried up to five times, with a short growing pause,
    /// before the error is reported.
    private func tokenWrite(_ operation: String, _ body: @Sendable (PKCS11Session) throws -> Void) async throws {
        try await tokenWriteResult(operation, body)
    }

    /// Runs one operation. A KEK that is not found is looked for again a few times (3 more, 10–80 ms
    /// apart, jittered) before it is reported: SoftHSM's `C_FindObjects` misses a token object for a
    /// moment while another process rewrites the token's files. (Not-found answers are not cached.)
    private func run<R: Sendable>(
        _ operation: String, integrityPath: Bool, _ body: @Sendable (PKCS11Session) throws -> R
    ) async throws -> R {
        var attempt = 1
        while true {
            do {
                return try await connection.withSession(body)
            } catch let error as StrongroomError where error.code == .keyUnavailable && attempt < 4 {
                let pause = 10 << attempt  // 20, 40, 80 ms at most
                attempt += 1
                try await Task.sleep(for: .milliseconds(Int.random(in: (pause / 2)...pause)))
            } catch {
                throw HSMKeyring.mapped(error, operation: operation, integrityPath: integrityPath, token: tokenName)
            }
        }
    }

    /// Turns PKCS#11 failures into store errors that say what happened and what to do.
    static func mapped(_ error: any Error, operation: String, integrityPath: Bool, token: String) -> any Error {
        switch error {
        case let error as StrongroomError:
            return error
        case let error as PKCS11Error where integrityPath && error.meansIntegrityFailure:
            return StrongroomError(
                .integrityCheckFailed,
                "the HSM refused to \(operation) the share: its wrapped key, IV, tag or ciphertext was altered, or it was sealed under another key; nothing was released",
                cause: error.description)
        case let error as PKCS11Error where error.meansLoginRefused:
            return StrongroomError(
                .hsmLoginFailed, "HSM token \(token) refused the PIN; check hsm.pinEnv / hsm.pinFile (not retried)",
                cause: error.description)
        case let error as PKCS11Error where error.meansConnectionLost:
            return StrongroomError(
                .hsmUnavailable,
                "lost the HSM while trying to \(operation), and it was still gone after re-initialising the module and logging in again",
                cause: error.description)
        case let error as PKCS11Error:
            return StrongroomError(.hsmUnavailable, "the HSM could not \(operation)", cause: error.description)
        case let error as PKCS11SetupError:
            switch error {
            case .duplicateKey(let label, _):
                return StrongroomError(
                    .configuration,
                    "more than one key on HSM token \(token) is labelled '\(label)', so Strongroom cannot tell which is the vault's KEK and will not guess; this is not tampering with a blob: another program, a restored token backup or a copied vault made a second key with the label. List the token's secret keys (pkcs11-tool --list-objects --type secrkey), keep the one this vault's blobs open with (the older one, with CKA_ID = vault id + version) and move the other away; nothing was changed",
                    cause: error.description)
            case .initialisedDifferently, .tokenAmbiguous, .pinRequired:
                return StrongroomError(.configuration, error.description)
            default:
                return StrongroomError(.hsmUnavailable, error.description)
            }
        case let error as CryptoError:
            return StrongroomError(.crypto, "could not \(operation): \(error)")
        default:
            return StrongroomError(.hsmUnavailable, "could not \(operation)", cause: "\(error)")
        }
    }
}
