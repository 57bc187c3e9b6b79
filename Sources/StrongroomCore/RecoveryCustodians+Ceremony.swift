import SecureCrypto

extension RecoveryCustodians {
    /// One custodian part opened with its passphrase: its header and its Shamir value (in locked memory
    /// only). Parts arrive one at a time in an unseal ceremony (`strongroom unseal`), so each is opened,
    /// and a wrong passphrase told, as it arrives; ``combine(opened:)`` rebuilds the key once T are held.
    public struct OpenedPart: Sendable, CustomStringConvertible {
        /// The part's header.
        public let info: PartInfo
        /// Where the part came from (a file name or a client), for errors.
        public let source: String
        let value: SecretBytes

        /// `part i of N (source)`; never the part's value.
        public var description: String { "part \(info.index) of \(info.custodians) (\(source))" }
    }

    /// Checks a part's header (as ``inspect(_:source:)``) and opens it with its custodian's passphrase.
    /// Throws ``StrongroomError/Code/recoveryPartRejected`` for a part that is not one (or is damaged)
    /// and ``StrongroomError/Code/recoveryPassphraseRejected`` for a wrong passphrase. Runs Argon2id at
    /// the part's limits (tenths of a second, tens of MiB): call it off the cooperative pool.
    public static func openPart(
        _ bytes: [UInt8], source: String, passphrase: SecretBytes
    ) throws(StrongroomError) -> OpenedPart {
        let info = try inspect(bytes, source: source)
        let value = try open(bytes, info: info, passphrase: passphrase, source: source)
        return OpenedPart(info: info, source: source, value: value)
    }

    /// Rebuilds the recovery private key from parts already opened (``openPart(_:source:passphrase:)``):
    /// they must name one key, N and T, have distinct indices and be at least T, and the rebuilt key's
    /// public key must have the fingerprint they name. Errors as ``combine(parts:passphrase:)``.
    public static func combine(opened parts: [OpenedPart]) throws(StrongroomError) -> (privateKey: SecretBytes, publicKey: RecoveryPublicKey) {
        guard let first = parts.first else {
            throw StrongroomError(.recoveryPartsInsufficient, "no custodian parts were given")
        }
        let reference = first.info
        var indices: Set<Int> = []
        for part in parts {
            guard part.info.keyFingerprint == reference.keyFingerprint, part.info.custodians == reference.custodians,
                part.info.threshold == reference.threshold
            else {
                throw StrongroomError(
                    .recoveryPartRejected,
                    "\(part) is not a part of the same key and split as \(first) (\(short(reference.keyFingerprint))); give parts of one key only")
            }
            guard indices.insert(part.info.index).inserted else {
                throw StrongroomError(.recoveryPartRejected, "\(part) was given twice; give each part once")
            }
        }
        guard parts.count >= reference.threshold else {
            throw StrongroomError(
                .recoveryPartsInsufficient,
                "\(reference.threshold) of the \(reference.custodians) custodian parts are needed to rebuild key \(short(reference.keyFingerprint)); got \(parts.count)")
        }
        let shares = parts.map { Shamir.Part(index: UInt8($0.info.index), value: $0.value) }
        let privateKey = try StrongroomError.mappingCrypto { () throws(CryptoError) in
            try Shamir.combine(shares, minimumParts: reference.threshold)
        }
        let publicKey = try RecoveryPublicKey(privateKey: privateKey)
        guard publicKey.fingerprint == reference.keyFingerprint else {
            throw StrongroomError(
                .recoveryPartRejected,
                "the parts \(parts.map(\.description).joined(separator: ", ")) opened but do not rebuild key \(short(reference.keyFingerprint)): one of them was sealed with a wrong value")
        }
        return (privateKey, publicKey)
    }
}
