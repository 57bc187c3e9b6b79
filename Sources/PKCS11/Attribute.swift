internal import CPKCS11

/// One PKCS#11 attribute as a typed value: the template language of ``PKCS11Session``.
public struct Attribute: Sendable, Hashable {
    /// The value of an attribute: `CK_BBOOL`, `CK_ULONG` or a byte string.
    public enum Value: Sendable, Hashable {
        case bool(Bool)
        case ulong(UInt)
        case bytes([UInt8])
    }

    /// The `CKA_` type.
    public let type: UInt
    public let value: Value

    public init(type: UInt, value: Value) {
        self.type = type
        self.value = value
    }

    public static func objectClass(_ value: ObjectClass) -> Attribute { Attribute(type: UInt(CKA_CLASS), value: .ulong(value.rawValue)) }
    public static func keyType(_ value: KeyType) -> Attribute { Attribute(type: UInt(CKA_KEY_TYPE), value: .ulong(value.rawValue)) }
    public static func label(_ value: String) -> Attribute { Attribute(type: UInt(CKA_LABEL), value: .bytes(Array(value.utf8))) }
    public static func id(_ value: [UInt8]) -> Attribute { Attribute(type: UInt(CKA_ID), value: .bytes(value)) }
    public static func valueLength(_ value: Int) -> Attribute { Attribute(type: UInt(CKA_VALUE_LEN), value: .ulong(UInt(value))) }
    public static func token(_ value: Bool) -> Attribute { Attribute(type: UInt(CKA_TOKEN), value: .bool(value)) }
    public static func `private`(_ value: Bool) -> Attribute { Attribute(type: UInt(CKA_PRIVATE), value: .bool(value)) }
    public static func sensitive(_ value: Bool) -> Attribute { Attribute(type: UInt(CKA_SENSITIVE), value: .bool(value)) }
    public static func extractable(_ value: Bool) -> Attribute { Attribute(type: UInt(CKA_EXTRACTABLE), value: .bool(value)) }
    public static func encrypt(_ value: Bool) -> Attribute { Attribute(type: UInt(CKA_ENCRYPT), value: .bool(value)) }
    public static func decrypt(_ value: Bool) -> Attribute { Attribute(type: UInt(CKA_DECRYPT), value: .bool(value)) }
    public static func wrap(_ value: Bool) -> Attribute { Attribute(type: UInt(CKA_WRAP), value: .bool(value)) }
    public static func unwrap(_ value: Bool) -> Attribute { Attribute(type: UInt(CKA_UNWRAP), value: .bool(value)) }
    public static func sign(_ value: Bool) -> Attribute { Attribute(type: UInt(CKA_SIGN), value: .bool(value)) }
    public static func verify(_ value: Bool) -> Attribute { Attribute(type: UInt(CKA_VERIFY), value: .bool(value)) }

    /// Attribute types that can be read back with ``PKCS11Session/attribute(_:of:)``.
    public enum Kind: UInt, Sendable {
        case objectClass = 0x00  // CKA_CLASS
        case keyType = 0x100  // CKA_KEY_TYPE
        case id = 0x102  // CKA_ID
        case value = 0x11  // CKA_VALUE
        case label = 0x03
        case sensitive = 0x103
        case extractable = 0x162
        case alwaysSensitive = 0x165
        case neverExtractable = 0x164
        case token = 0x01
        case wrap = 0x106
        case unwrap = 0x107
        case valueLength = 0x161
        case `private` = 0x02  // CKA_PRIVATE
        case encrypt = 0x104
        case decrypt = 0x105
        case sign = 0x108
        case verify = 0x10A
    }
}

/// `CKO_` object classes.
public struct ObjectClass: RawRepresentable, Sendable, Hashable {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }
    public static let secretKey = ObjectClass(rawValue: UInt(CKO_SECRET_KEY))
}

/// `CKK_` key types.
public struct KeyType: RawRepresentable, Sendable, Hashable {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }
    public static let aes = KeyType(rawValue: UInt(CKK_AES))
    public static let genericSecret = KeyType(rawValue: UInt(CKK_GENERIC_SECRET))
}

/// `CKM_` mechanisms Strongroom uses, with their names.
public struct Mechanism: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }
    public static let aesKeyGen = Mechanism(rawValue: UInt(CKM_AES_KEY_GEN))
    public static let aesGCM = Mechanism(rawValue: UInt(CKM_AES_GCM))
    public static let aesKeyWrap = Mechanism(rawValue: UInt(CKM_AES_KEY_WRAP))
    public static let aesKeyWrapPad = Mechanism(rawValue: UInt(CKM_AES_KEY_WRAP_PAD))
    public static let genericSecretKeyGen = Mechanism(rawValue: UInt(CKM_GENERIC_SECRET_KEY_GEN))
    public static let sha256HMAC = Mechanism(rawValue: UInt(CKM_SHA256_HMAC))

    public var description: String {
        switch self {
        case .aesKeyGen: "CKM_AES_KEY_GEN"
        case .aesGCM: "CKM_AES_GCM"
        case .aesKeyWrap: "CKM_AES_KEY_WRAP"
        case .aesKeyWrapPad: "CKM_AES_KEY_WRAP_PAD"
        case .genericSecretKeyGen: "CKM_GENERIC_SECRET_KEY_GEN"
        case .sha256HMAC: "CKM_SHA256_HMAC"
        default: "CKM 0x\(String(rawValue, radix: 16))"
        }
    }
}

/// Lays a template out in one buffer (values 8-byte aligned) and hands `CK_ATTRIBUTE`s to `body`.
func withTemplate<R>(_ attributes: [Attribute], _ body: (UnsafeMutablePointer<CK_ATTRIBUTE>?, CK_ULONG) throws -> R) rethrows -> R {
    var size = 0
    for attribute in attributes {
        switch attribute.value {
        case .bool: size += 8
        case .ulong: size += 8
        case .bytes(let bytes): size += (bytes.count + 7) & ~7
        }
    }
    let storage = UnsafeMutableRawPointer.allocate(byteCount: max(size, 8), alignment: 8)
    defer { storage.deallocate() }
    let list = UnsafeMutablePointer<CK_ATTRIBUTE>.allocate(capacity: max(attributes.count, 1))
    defer { list.deallocate() }
    var offset = 0
    for (index, attribute) in attributes.enumerated() {
        let slot = storage + offset
        let length: Int
        switch attribute.value {
        case .bool(let value):
            slot.storeBytes(of: CK_BBOOL(value ? CK_TRUE : CK_FALSE), as: CK_BBOOL.self)
            length = MemoryLayout<CK_BBOOL>.size
            offset += 8
        case .ulong(let value):
            slot.storeBytes(of: CK_ULONG(value), as: CK_ULONG.self)
            length = MemoryLayout<CK_ULONG>.size
            offset += 8
        case .bytes(let bytes):
            if !bytes.isEmpty { bytes.withUnsafeBytes { slot.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
            length = bytes.count
            offset += (bytes.count + 7) & ~7
        }
        (list + index).initialize(
            to: CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(attribute.type), pValue: length == 0 ? nil : slot, ulValueLen: CK_ULONG(length)))
    }
    return try body(attributes.isEmpty ? nil : list, CK_ULONG(attributes.count))
}
