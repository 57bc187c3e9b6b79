import Foundation
import Logging
import PKCS11
import SecureCrypto
import StrongroomCore

/// Tier 3's audit checkpoint key: a 32-byte `CKK_GENERIC_SECRET` token object, labelled
/// `strongroom/<vault id>/audit-mac` beside the vault's KEKs, made by `CKM_GENERIC_SECRET_KEY_GEN` on
/// first use: token, private (after a login), sensitive, non-extractable, `CKA_SIGN`/`CKA_VERIFY` and
/// nothing else (no encrypt, decrypt, wrap or unwrap). Checkpoints are MACed inside the HSM with
/// `CKM_SHA256_HMAC` (`C_Sign`) and checked with `C_Verify`.
extension HSMKeyring {
    /// The audit MAC key's label.
    public var auditKeyLabel: String { "\(kekID)/audit-mac" }

    static func auditKeyTemplate(label: String, id: [UInt8], private: Bool) -> [Attribute] {
        [
            .objectClass(.secretKey), .keyType(.genericSecret), .valueLength(32), .token(true), .private(`private`),
            .sensitive(true), .extractable(false), .sign(true), .verify(true), .encrypt(false), .decrypt(false),
            .wrap(false), .unwrap(false), .label(label), .id(id),
        ]
    }

    /// The vault's audit key, found by label or made on first use. Two processes that make it at once
    /// (each found none) may both generate one: each `CKA_ID` is the vault id, then the creation time
    /// (nanoseconds, big-endian) and 4 random bytes, and the key with the smallest `CKA_ID` (the first
    /// made) is the vault's; a process whose own new key is not that one destroys it. Lookups take the
    /// smallest too, so a loser's key that is still being destroyed is never used.
    public func auditKey() async throws -> (any AuditMACKey)? {
        let label = auditKeyLabel
        try await tokenWriteResult("find or make the audit MAC key") { session in
            try connection.module.serializingTokenWrites {
                if try HSMKeyring.auditHandle(session, label: label) != nil { return }
                let id = Array(vaultID.bytes) + HSMKeyring.creationStamp() + (try SecureRandom.bytes(count: 4))
                let mine = try session.generateGenericSecret(
                    HSMKeyring.auditKeyTemplate(label: label, id: id, private: privateObjects))
                connection.forgetKey(labelled: label)
                if let winner = try HSMKeyring.auditHandle(session, label: label), winner != mine {
                    try session.destroy(mine)
                    connection.logger.notice(
                        "another process made the vault's audit MAC key first; destroyed ours", metadata: ["hsm.key": "\(label)"])
                }
            }
        }
        return HSMAuditKey(keyring: self, label: label)
    }

    /// Destroys the audit key (every object with its label): for removing a vault's keys.
    func destroyAuditKey() async throws {
        let label = auditKeyLabel
        try await tokenWriteResult("destroy the audit MAC key") { session in
            try connection.module.serializingTokenWrites {
                for handle in try session.find([.objectClass(.secretKey), .label(label)], limit: 8) {
                    try session.destroy(handle)
                }
                connection.forgetKey(labelled: label)
            }
        }
    }

    /// The audit key on the token: the one with the smallest `CKA_ID` among those labelled `label`.
    static func auditHandle(_ session: PKCS11Session, label: String) throws -> ObjectHandle? {
        let found = try session.find([.objectClass(.secretKey), .label(label)], limit: 8)
        guard found.count > 1 else { return found.first }
        return try found.map { (handle: $0, id: try session.attribute(.id, of: $0)) }
            .min { $0.id.lexicographicallyPrecedes($1.id) }?.handle
    }

    /// Nanoseconds since 1970, 8 bytes big-endian.
    static func creationStamp() -> [UInt8] {
        let now = UInt64(Date().timeIntervalSince1970 * 1_000_000_000)
        return withUnsafeBytes(of: now.bigEndian, Array.init)
    }

    /// Runs `body` with the audit key's handle (cached by the connection like the KEKs', dropped when
    /// the module is re-initialised after a token restart).
    func withAuditKey<R: Sendable>(
        _ operation: String, label: String, _ body: @Sendable (PKCS11Session, ObjectHandle) throws -> R
    ) async throws -> R {
        do {
            return try await connection.withSession { session in
                guard let key = try session.key(labelled: label, choosing: { try HSMKeyring.auditHandle(session, label: label) })
                else {
                    throw StrongroomError(
                        .keyUnavailable,
                        "the audit MAC key '\(label)' is not on HSM token \(tokenName); was it destroyed? Checkpoints made with it can no longer be verified")
                }
                return try body(session, key)
            }
        } catch {
            throw HSMKeyring.mapped(error, operation: operation, integrityPath: false, token: tokenName)
        }
    }
}

/// The HMAC-SHA256 key of tier 3's audit checkpoints, on the token (see ``HSMKeyring/auditKey()``).
public struct HSMAuditKey: AuditMACKey {
    let keyring: HSMKeyring
    /// The key's label on the token.
    public let label: String

    /// `PKCS#11 CKK_GENERIC_SECRET '<label>' CKM_SHA256_HMAC`.
    public var description: String { "PKCS#11 CKK_GENERIC_SECRET '\(label)' CKM_SHA256_HMAC" }
    /// `HMAC-SHA256`.
    public var algorithm: String { "HMAC-SHA256" }

    public func mac(_ message: [UInt8]) async throws -> [UInt8] {
        try await keyring.withAuditKey("MAC an audit checkpoint", label: label) { session, key in
            try session.sign(message, with: key, mechanism: .sha256HMAC)
        }
    }

    public func verify(_ message: [UInt8], mac: [UInt8]) async throws -> Bool {
        try await keyring.withAuditKey("verify an audit checkpoint", label: label) { session, key in
            try session.verify(message, signature: mac, with: key, mechanism: .sha256HMAC)
        }
    }
}
