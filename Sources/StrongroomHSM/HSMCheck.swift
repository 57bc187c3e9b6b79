import Foundation
import Logging
import PKCS11
import SecureCrypto
import StrongroomCore
import StrongroomLocal
import StrongroomCloud

/// `strongroom hsm check`: the self-test a security team runs against their own HSM before trusting
/// it with tier 3. Every check yields a pass/fail line; nothing it creates stays on the token.
public enum HSMCheck {
    /// One check's outcome.
    public struct Result: Sendable {
        public var name: String
        public var passed: Bool
        public var detail: String
    }

    /// The mechanisms tier 3 needs and the flags each must offer.
    static let required: [(Mechanism, MechanismFlag)] = [
        (.aesKeyGen, .generate), (.aesGCM, [.encrypt, .decrypt]), (.aesKeyWrap, [.wrap, .unwrap]),
        // The audit log's checkpoint key (docs/audit.md): made on the token, used for HMAC there.
        (.genericSecretKeyGen, .generate), (.sha256HMAC, [.sign, .verify]),
    ]

    /// Runs every check in order, calling `report` after each. Returns all results.
    public static func run(
        _ settings: StrongroomConfiguration.HSM, logger: Logger, report: @Sendable (Result) -> Void
    ) async -> [Result] {
        var results: [Result] = []
        func record(_ name: String, _ passed: Bool, _ detail: String) {
            let result = Result(name: name, passed: passed, detail: detail)
            results.append(result)
            report(result)
        }
        func notRun(_ names: [String], because reason: String) {
            for name in names { record(name, false, "not run: \(reason)") }
        }
        let later = [
            "mechanisms", "log in", "create KEK", "KEK attributes", "KEK value unreadable", "KEK cannot be wrapped out",
            "seal/open round trip", "rewrap round trip", "tamper detected", "clean up",
        ]

        // Module and token.
        // Every Cryptoki call runs on the blocking pool, never on a thread of the cooperative pool.
        let pool = BlockingPool.shared(threads: settings.blockingThreads, for: .cryptoki)
        let module: PKCS11Module
        do {
            let (loaded, info) = try await pool.run {
                let module = try PKCS11Module.load(path: settings.modulePath, reserved: settings.initArgs)
                return (module, try module.info())
            }
            module = loaded
            record(
                "module loads", true,
                "\(settings.modulePath): Cryptoki \(info.cryptokiVersion), \(info.manufacturer) (\(info.description)) \(info.libraryVersion)")
        } catch {
            record("module loads", false, "\(error)")
            notRun(["token found"] + later, because: "the module did not load")
            return results
        }
        let selector: TokenSelector = (try? HSMVault.selector(settings)) ?? .label(settings.tokenLabel ?? "")
        let token: TokenInfo
        do {
            let retry = ConnectRetry(
                attempts: max(settings.connectAttempts, 1), baseDelay: ConnectRetry.standard.baseDelay,
                maxDelay: ConnectRetry.standard.maxDelay)
            token = try await pool.run { try module.token(selector, retry: retry) }
            var flags: [String] = []
            if token.loginRequired { flags.append("login required") }
            if token.hasRNG { flags.append("RNG") }
            if token.writeProtected { flags.append("WRITE-PROTECTED") }
            record(
                "token found", !token.writeProtected,
                "slot \(token.slot) (\(token.slotDescription)): '\(token.label)', \(token.manufacturer) \(token.model), serial \(token.serial), firmware \(token.firmwareVersion), \(flags.joined(separator: ", "))")
        } catch {
            record("token found", false, "\(error)")
            notRun(later, because: "no token")
            return results
        }

        // Mechanisms.
        do {
            let slot = token.slot
            let (missing, lines) = try await pool.run { try mechanismFindings(module, slot: slot) }
            record("mechanisms", missing.isEmpty, (missing.isEmpty ? "" : missing.joined(separator: "; ") + "; ") + lines.joined(separator: "; "))
        } catch {
            record("mechanisms", false, "\(error)")
        }

        // Log in.
        let connection: PKCS11Connection
        do {
            connection = try await HSMVault.connect(settings, logger: logger)
            record(
                "log in", true,
                connection.isLoggedIn
                    ? "user PIN from \(settings.pinFile.map { "file \($0)" } ?? "$\(settings.pinEnvironmentVariable)") accepted"
                    : "no PIN set and the token does not require a login (no CKF_LOGIN_REQUIRED): public objects only")
        } catch {
            record("log in", false, "\(error)")
            notRun(Array(later.dropFirst(2)), because: "not logged in")
            return results
        }

        // A throwaway keyring under a random vault id: the same code path as a real vault.
        let checkID = VaultID(bytes: (try? SecureRandom.bytes(count: 16)) ?? Array(repeating: 0x5A, count: 16))
        let keyring = HSMKeyring(vaultID: checkID, connection: connection)
        defer { _ = keyring }
        do {
            try await keyring.prepareKEK(version: 1)
            record("create KEK", true, "AES-256 token object '\(keyring.kekLabel(1))' (CKA_SENSITIVE, not CKA_EXTRACTABLE)")
        } catch {
            record("create KEK", false, "\(error)")
            notRun(Array(later.dropFirst(4)), because: "no KEK")
            return results
        }

        for result in await kekProtection(connection, keyring) { record(result.name, result.passed, result.detail) }

        // Seal, open, rewrap, tamper — through HSMKeyring itself.
        let aad = Array("strongroom hsm check".utf8)
        var sealed: SealedShare?
        var share: SecretBytes?
        do {
            let secret = try SecureRandom.secretBytes(count: 32)
            share = secret
            let result = try await keyring.seal(secret, associatedData: aad, kekVersion: 1)
            sealed = result
            let opened = try await keyring.open(result, associatedData: aad)
            record("seal/open round trip", opened == secret, "C_GenerateKey + C_Encrypt(CKM_AES_GCM) + C_WrapKey(CKM_AES_KEY_WRAP), then C_UnwrapKey + C_Decrypt: \(opened == secret ? "same 32 bytes back" : "DIFFERENT bytes back")")
        } catch {
            record("seal/open round trip", false, "\(error)")
        }
        if let sealed, let share {
            do {
                try await keyring.prepareKEK(version: 2)
                let rewrapped = try await keyring.rewrap(sealed, associatedData: aad, to: 2)
                let opened = try await keyring.open(rewrapped, associatedData: aad)
                let same = opened == share && rewrapped.ciphertext == sealed.ciphertext && rewrapped.wrappedKey != sealed.wrappedKey
                record("rewrap round trip", same, "data key unwrapped under KEK 1 and wrapped under KEK 2 inside the HSM; ciphertext unchanged; opens under KEK 2")
            } catch {
                record("rewrap round trip", false, "\(error)")
            }
            var tampered = sealed
            tampered.tag[0] ^= 0x01
            do {
                _ = try await keyring.open(tampered, associatedData: aad)
                record("tamper detected", false, "a flipped GCM tag bit still opened")
            } catch let error as StrongroomError where error.code == .integrityCheckFailed {
                record("tamper detected", true, "a flipped tag bit is refused (\(error.cause ?? "integrity check failed"))")
            } catch {
                record("tamper detected", false, "unexpected error: \(error)")
            }
        } else {
            notRun(["rewrap round trip", "tamper detected"], because: "nothing was sealed")
        }

        do {
            try await keyring.retireKEKs(olderThan: 3)
            record("clean up", true, "destroyed the check's KEKs; nothing left on the token")
        } catch {
            record("clean up", false, "could not destroy '\(keyring.kekLabel(1))'/'\(keyring.kekLabel(2))': \(error)")
        }
        return results
    }

    /// What `init` checks before it makes a vault: the mechanisms (``missing``: unusable for tier 3)
    /// and the KEK protection, on a throwaway KEK that is destroyed afterwards (``weaknesses``: the
    /// token does not enforce it). Throws if the throwaway KEK cannot be made.
    public struct Preflight: Sendable {
        public var missing: [String]
        public var weaknesses: [String]
    }

    static func preflight(_ connection: PKCS11Connection, logger: Logger) async throws -> Preflight {
        var missing: [String] = []
        if let token = connection.token {
            do {
                missing = try await connection.pool.run { try mechanismFindings(connection.module, slot: token.slot).missing }
            } catch {
                throw HSMKeyring.mapped(error, operation: "list the token's mechanisms", integrityPath: false, token: "'\(token.label)'")
            }
        }
        guard missing.isEmpty else { return Preflight(missing: missing, weaknesses: []) }
        let keyring = HSMKeyring(vaultID: VaultID(bytes: try SecureRandom.bytes(count: 16)), connection: connection)
        try await keyring.prepareKEK(version: 1)
        let results = await kekProtection(connection, keyring)
        do {
            try await keyring.retireKEKs(olderThan: 2)
        } catch {
            logger.warning(
                "could not destroy the preflight's throwaway KEK", metadata: ["hsm.kek": "\(keyring.kekLabel(1))", "hsm.error": "\(error)"])
        }
        return Preflight(missing: [], weaknesses: results.filter { !$0.passed }.map { "\($0.name): \($0.detail)" })
    }

    /// Which required mechanisms are missing or unusable (no flag, or no 32-byte key size), and one
    /// line per offered one.
    static func mechanismFindings(_ module: PKCS11Module, slot: UInt) throws -> (missing: [String], lines: [String]) {
        let offered = try module.mechanisms(slot: slot)
        var missing: [String] = []
        var lines: [String] = []
        for (mechanism, flags) in required {
            guard let info = offered.first(where: { $0.type == mechanism.rawValue }) else {
                missing.append("\(mechanism) not offered")
                continue
            }
            let have = MechanismFlag(rawValue: info.flags)
            if !have.isSuperset(of: flags) {
                missing.append("\(mechanism) lacks \(flags.subtracting(have).names.joined(separator: "+"))")
            }
            // AES key sizes are in bytes (PKCS#11 2.40); some modules state bits; 0–0 states nothing.
            let sizes = info.minKeySize...max(info.minKeySize, info.maxKeySize)
            if info.maxKeySize != 0, !sizes.contains(32), !sizes.contains(256) {
                missing.append("\(mechanism) offers key sizes \(info.minKeySize)–\(info.maxKeySize), not 256-bit keys")
            }
            lines.append(
                "\(mechanism) [\(have.intersection([.encrypt, .decrypt, .generate, .wrap, .unwrap, .sign, .verify]).names.joined(separator: " "))] keys \(info.minKeySize)–\(info.maxKeySize)")
        }
        return (missing, lines)
    }

    /// The three checks of the KEK's protection, on KEK version 1 of `keyring`.
    static func kekProtection(_ connection: PKCS11Connection, _ keyring: HSMKeyring) async -> [Result] {
        var results: [Result] = []
        let record: (String, Bool, String) -> Void = { results.append(Result(name: $0, passed: $1, detail: $2)) }
        await inSession(connection, record, "KEK attributes") { session in
            let kek = try requireKEK(session, keyring.kekLabel(1))
            let sensitive = try session.flag(.sensitive, of: kek)
            let extractable = try session.flag(.extractable, of: kek)
            let never = try session.flag(.neverExtractable, of: kek)
            let always = try session.flag(.alwaysSensitive, of: kek)
            let ok = sensitive && !extractable && never && always
            return (ok, "CKA_SENSITIVE=\(sensitive) CKA_EXTRACTABLE=\(extractable) CKA_NEVER_EXTRACTABLE=\(never) CKA_ALWAYS_SENSITIVE=\(always)")
        }
        await inSession(connection, record, "KEK value unreadable") { session in
            let kek = try requireKEK(session, keyring.kekLabel(1))
            do {
                let value = try session.attribute(.value, of: kek)
                return (false, "C_GetAttributeValue(CKA_VALUE) returned \(value.count) bytes: the KEK can be read")
            } catch let error as PKCS11Error {
                return (true, "reading CKA_VALUE refused: \(error)")
            }
        }
        await inSession(connection, record, "KEK cannot be wrapped out") { session in
            let kek = try requireKEK(session, keyring.kekLabel(1))
            let wrapping: ObjectHandle
            do {
                wrapping = try session.generateAESKey([
                    .objectClass(.secretKey), .keyType(.aes), .valueLength(32), .token(false), .private(connection.isLoggedIn),
                    .wrap(true), .unwrap(true),
                ])
            } catch let error as PKCS11Error {
                return (false, "could not prove it: making a session key to wrap with failed: \(error)")
            }
            defer { try? session.destroy(wrapping) }
            do {
                let wrapped = try session.wrap(kek, with: wrapping, mechanism: .aesKeyWrap)
                return (false, "C_WrapKey of the KEK returned \(wrapped.count) bytes: the KEK can leave the HSM under a key its caller knows")
            } catch let error as PKCS11Error {
                return judgeWrapOut(error)
            }
        }
        return results
    }

    /// The verdict on a refused `C_WrapKey` of the KEK: only `CKR_KEY_UNEXTRACTABLE` and
    /// `CKR_KEY_NOT_WRAPPABLE` prove the token enforces the KEK's protection; any other refusal
    /// (`CKR_MECHANISM_INVALID`, `CKR_GENERAL_ERROR`, …) proves nothing.
    static func judgeWrapOut(_ error: PKCS11Error) -> (passed: Bool, detail: String) {
        if error.meansKeyCannotBeWrappedOut {
            return (true, "wrapping the KEK refused: \(error)")
        }
        return (
            false,
            "could not prove it: C_WrapKey failed with \(error), not CKR_KEY_UNEXTRACTABLE or CKR_KEY_NOT_WRAPPABLE, so the token may allow it with another mechanism"
        )
    }

    private static func requireKEK(_ session: PKCS11Session, _ label: String) throws -> ObjectHandle {
        guard let kek = try session.key(labelled: label) else { throw StrongroomError(.keyUnavailable, "KEK '\(label)' vanished") }
        return kek
    }

    private static func inSession(
        _ connection: PKCS11Connection, _ record: (String, Bool, String) -> Void, _ name: String,
        _ body: @Sendable (PKCS11Session) throws -> (Bool, String)
    ) async {
        do {
            let (passed, detail) = try await connection.withSession(body)
            record(name, passed, detail)
        } catch {
            record(name, false, "\(error)")
        }
    }
}
