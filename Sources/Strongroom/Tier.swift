/// A storage tier: where the key-encryption key lives.
public enum Tier: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Tier 1: KEK derived with HKDF from a root seed file; blobs in a local directory.
    case local
    /// Tier 2: KEK in a KMS; blobs in S3-compatible object storage.
    case cloud
    /// Tier 3: KEK as a non-extractable key inside a PKCS#11 HSM.
    case hsm

    /// The byte that identifies the tier in the envelope format.
    public var code: UInt8 {
        switch self {
        case .local: 1
        case .cloud: 2
        case .hsm: 3
        }
    }

    /// The tier for an envelope byte, or nil.
    public init?(code: UInt8) {
        guard let tier = Tier.allCases.first(where: { $0.code == code }) else { return nil }
        self = tier
    }

    /// The tier's configuration name.
    public var description: String { rawValue }
}
