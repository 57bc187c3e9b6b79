import Foundation
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

func secret(_ hex: String) throws -> SecretBytes {
    try bytes(hex).withUnsafeBytes { try SecretBytes(copying: $0) }
}

func secret(bytes values: [UInt8]) throws -> SecretBytes {
    try values.withUnsafeBytes { try SecretBytes(copying: $0) }
}

func hex(_ secret: SecretBytes) -> String {
    secret.withUnsafeBytes { hex(Array($0)) }
}

func hex(_ values: [UInt8]) -> String {
    values.map { String(format: "%02x", $0) }.joined()
}
