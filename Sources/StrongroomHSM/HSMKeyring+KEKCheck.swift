import Logging
import PKCS11
import SecureCrypto
import StrongroomCore
import StrongroomLocal
import StrongroomCloud

/// Making a KEK version that survives a crash while the token writes it.
///
/// A process killed while SoftHSM writes a new token object leaves a truncated object file. Cut
/// inside an attribute's value, SoftHSM marks the object invalid and does not list it (it collides
/// with nothing). Cut between two attributes (or inside the next one's type field, which SoftHSM
/// reads as the end of the file), it lists an object with the attributes before the cut: once
/// `CKA_LABEL` is among them it is found by label, and it lacks what came later (`CKA_VALUE`,
/// `CKA_WRAP`, `CKA_UNWRAP`, `CKA_EXTRACTABLE`…): it refuses to wrap, answers `CKR_GENERAL_ERROR`,
/// or is not protected. Such an object must never become the vault's KEK, so a KEK version is
/// checked before the rotation journal names it: its attributes are read back, and a throwaway
/// session key is wrapped, unwrapped and used under it.
extension HSMKeyring {
    /// The `CKA_ID` of KEK version `version`: the 16 vault id bytes, then the version (4 bytes, big-endian).
    func kekObjectID(_ version: UInt32) -> [UInt8] {
        Array(vaultID.bytes) + withUnsafeBytes(of: version.bigEndian, Array.init)
    }

    /// Makes sure KEK version `version` is on the token and usable. Objects with its label that fail
    /// the check are unusable leftovers of a killed run: each is destroyed, or, when the token will
    /// not destroy it, relabelled `<label>/unusable-<random>` so it no longer collides; then a new KEK
    /// is generated and checked. Called only while nothing can be sealed under `version` (before the
    /// rotation journal names it, or after ``resumeKEK(version:anySealedUnder:)`` found none).
    func makeUsableKEK(version: UInt32) async throws {
        let label = kekLabel(version)
        var replaced = 0
        while true {
            let verdict = try await tokenWriteResult("create KEK") { session -> KEKVerdict in
                try connection.module.serializingTokenWrites { () throws -> KEKVerdict in
                    let found = try session.find([.objectClass(.secretKey), .label(label)], limit: 8)
                    var unusable: [(ObjectHandle, String)] = []
                    for handle in found {
                        if let problem = kekProblem(handle, version: version, session: session) {
                            unusable.append((handle, problem))
                        } else if unusable.isEmpty && found.count == 1 {
                            return .usable
                        }
                    }
                    if !unusable.isEmpty {
                        connection.forgetKey(labelled: label)
                        return .unusable(try unusable.map { try setAside($0.0, label: label, problem: $0.1, session: session) })
                    }
                    if found.count > 1 { throw PKCS11SetupError.duplicateKey(label: label, count: found.count) }
                    connection.forgetKey(labelled: label)
                    _ = try session.generateAESKey(
                        HSMKeyring.kekTemplate(label: label, id: kekObjectID(version), private: privateObjects))
                    return .created
                }
            }
            switch verdict {
            case .usable:
                return
            case .created:
                continue  // check what was just written, like any other
            case .unusable(let outcomes):
                for outcome in outcomes {
                    connection.logger.warning(
                        "found an unusable KEK object (left by a killed run?) and set it aside; making a new one",
                        metadata: ["hsm.kek": "\(label)", "hsm.problem": "\(outcome)"])
                }
                replaced += 1
                guard replaced <= 2 else {
                    throw StrongroomError(
                        .hsmUnavailable,
                        "HSM token \(tokenName) keeps making unusable keys labelled '\(label)' (\(outcomes.joined(separator: "; "))); check the token (strongroom hsm check) and its storage; the vault still uses its current KEK")
                }
            }
        }
    }

    enum KEKVerdict: Sendable {
        case usable
        case created
        case unusable([String])
    }

    /// Destroys an unusable KEK object, or relabels it out of the way when it cannot be destroyed;
    /// says what was done. Throws when neither works and the object is still found by the label.
    private func setAside(_ handle: ObjectHandle, label: String, problem: String, session: PKCS11Session) throws -> String {
        do {
            try session.destroy(handle)
            return "\(problem); destroyed"
        } catch let destroyError {
            let aside = "\(label)/unusable-\(Hex.encode((try? SecureRandom.bytes(count: 4)) ?? [0, 0, 0, 0]))"
            do {
                try session.setAttributes([.label(aside)], of: handle)
                return "\(problem); could not destroy it (\(destroyError)), relabelled '\(aside)'"
            } catch {
                // An object the token lists but can neither destroy nor relabel: a lookup by the
                // label would keep finding it.
                throw StrongroomError(
                    .hsmUnavailable,
                    "a key labelled '\(label)' on HSM token \(tokenName) is unusable (\(problem)) and the token will neither destroy nor relabel it (\(destroyError); \(error)); remove it with the token's tools (pkcs11-tool --delete-object --type secrkey --label '\(label)'), then run rotate again; the vault still uses its current KEK")
            }
        }
    }

    /// What is wrong with a KEK object, or nil when it is sound: its attributes are what Strongroom
    /// made, and a throwaway session key wrapped under it unwraps to a key that opens what the
    /// original sealed.
    func kekProblem(_ kek: ObjectHandle, version: UInt32, session: PKCS11Session) -> String? {
        do {
            guard try session.ulong(.objectClass, of: kek) == ObjectClass.secretKey.rawValue,
                try session.ulong(.keyType, of: kek) == KeyType.aes.rawValue
            else { return "it is not an AES secret key" }
            guard try session.ulong(.valueLength, of: kek) == 32 else { return "it is not 32 bytes long" }
            guard try session.flag(.token, of: kek) else { return "it is not a token object" }
            guard try session.flag(.sensitive, of: kek), try !session.flag(.extractable, of: kek) else {
                return "it is not sensitive and unextractable"
            }
            guard try session.flag(.wrap, of: kek), try session.flag(.unwrap, of: kek) else {
                return "it may not wrap and unwrap"
            }
            guard try session.attribute(.id, of: kek) == kekObjectID(version) else {
                return "its CKA_ID is not the vault id and version"
            }
        } catch {
            return "its attributes cannot be read (\(error))"
        }
        do {
            let probe = try SecureRandom.secretBytes(count: 32)
            let iv = try SecureRandom.bytes(count: HSMKeyring.ivSize)
            let aad = Array("strongroom KEK self-test".utf8)
            let dataKey = try session.generateAESKey(HSMKeyring.dataKeyTemplate(private: privateObjects))
            defer { try? session.destroy(dataKey) }
            let sealed = try session.encryptGCM(key: dataKey, iv: iv, aad: aad, plaintext: probe)
            let wrapped = try session.wrap(dataKey, with: kek, mechanism: HSMKeyring.wrapMechanism)
            let unwrapped = try session.unwrap(
                wrapped, with: kek, mechanism: HSMKeyring.wrapMechanism,
                template: HSMKeyring.unwrappedTemplate(extractable: false, private: privateObjects))
            defer { try? session.destroy(unwrapped) }
            let opened = try session.decryptGCM(key: unwrapped, iv: iv, aad: aad, ciphertext: sealed.ciphertext, tag: sealed.tag)
            guard opened == probe else { return "the wrap/unwrap self-test gave back another key" }
        } catch {
            return "the wrap/unwrap self-test with a throwaway key failed (\(error))"
        }
        return nil
    }

    /// Runs a token write that returns a value; `CKR_GENERAL_ERROR` (another process writing the
    /// token) is retried like ``tokenWrite(_:_:)`` does.
    func tokenWriteResult<R: Sendable>(
        _ operation: String, _ body: @Sendable (PKCS11Session) throws -> R
    ) async throws -> R {
        var attempt = 0
        while true {
            do {
                return try await connection.withSession(body)
            } catch let error as PKCS11Error where error.rv == 0x5 /* CKR_GENERAL_ERROR */ && attempt < 4 {
                attempt += 1
                try await Task.sleep(for: .milliseconds(10 * attempt))
            } catch {
                throw HSMKeyring.mapped(error, operation: operation, integrityPath: false, token: tokenName)
            }
        }
    }
}
