import Foundation
@testable import FROST
import SecureCrypto

func bytes(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        out.append(UInt8(hex[index..<next], radix: 16)!)
        index = next
    }
    return out
}

func hex(_ values: [UInt8]) -> String { values.map { String(format: "%02x", $0) }.joined() }

func secret(_ hex: String) throws -> SecretBytes { try bytes(hex).withUnsafeBytes { try SecretBytes(copying: $0) } }

func hex(_ scalar: Scalar) -> String { scalar.secret.withUnsafeBytes { hex(Array($0)) } }

func scalar(_ hex: String, _ suite: Ciphersuite) throws -> Scalar { try Scalar.deserialize(bytes(hex), suite) }

/// Runs FROST for `signers` of dealt keys, all in this process.
func signAll(
    _ keys: [KeyPackage], group: PublicKeyPackage, signers: [ParticipantID], message: [UInt8]
) throws -> Signature {
    let chosen = keys.filter { signers.contains($0.identifier) }
    let nonces = try chosen.map { try FROST.commit($0) }
    let package = try SigningPackage(suite: group.suite, commitments: nonces.map(\.commitments), message: message)
    let shares = try zip(chosen, nonces).map { try FROST.sign(package, nonces: $1, keyPackage: $0) }
    return try FROST.aggregate(package, shares: shares, publicKeys: group, verification: .always)
}
