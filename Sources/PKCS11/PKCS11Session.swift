internal import CPKCS11
import SecureCrypto

/// A handle to a secret-key object on the token (a KEK token object or a session data key).
public struct ObjectHandle: Sendable, Hashable {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }
}

/// An open session, lent out by ``PKCS11Connection/withSession(idempotent:_:)`` for the length of one
/// operation. Its methods make Cryptoki calls directly; they are valid only inside that closure.
public struct PKCS11Session: @unchecked Sendable {
    let functions: UnsafeMutablePointer<CK_FUNCTION_LIST>
    let handle: CK_SESSION_HANDLE
    let connection: PKCS11Connection

    private func check(_ function: String, _ rv: CK_RV) throws {
        guard rv == CKR_OK else { throw PKCS11Error(function, UInt(rv)) }
    }

    // MARK: Objects

    /// `C_FindObjects*`: every object matching the template (at most `limit`).
    public func find(_ template: [Attribute], limit: Int = 64) throws -> [ObjectHandle] {
        try withTemplate(template) { list, count in
            try check("C_FindObjectsInit", functions.pointee.C_FindObjectsInit!(handle, list, count))
        }
        var found: [ObjectHandle] = []
        var batch = [CK_OBJECT_HANDLE](repeating: 0, count: 16)
        var failure: PKCS11Error?
        while found.count < limit {
            var got: CK_ULONG = 0
            let rv = functions.pointee.C_FindObjects!(handle, &batch, CK_ULONG(batch.count), &got)
            guard rv == CKR_OK else {
                failure = PKCS11Error("C_FindObjects", UInt(rv))
                break
            }
            if got == 0 { break }
            found += batch.prefix(Int(got)).map { ObjectHandle(rawValue: UInt($0)) }
        }
        let final = functions.pointee.C_FindObjectsFinal!(handle)
        if let failure { throw failure }
        try check("C_FindObjectsFinal", final)
        return Array(found.prefix(limit))
    }

    /// The secret key with this label, found through the connection's label cache.
    public func key(labelled label: String) throws -> ObjectHandle? {
        try connection.cachedKey(label) {
            try find([.objectClass(.secretKey), .label(label)], limit: 2)
        }
    }

    /// The key with this label that `choose` picks (when several objects carry the label), found
    /// through the connection's label cache.
    public func key(labelled label: String, choosing choose: () throws -> ObjectHandle?) throws -> ObjectHandle? {
        try connection.cachedKey(label) { try choose().map { [$0] } ?? [] }
    }

    /// `C_GenerateKey` with `CKM_AES_KEY_GEN`.
    public func generateAESKey(_ template: [Attribute]) throws -> ObjectHandle {
        var mechanism = CK_MECHANISM(mechanism: CK_MECHANISM_TYPE(CKM_AES_KEY_GEN), pParameter: nil, ulParameterLen: 0)
        var key: CK_OBJECT_HANDLE = 0
        try withTemplate(template) { list, count in
            try check("C_GenerateKey", functions.pointee.C_GenerateKey!(handle, &mechanism, list, count, &key))
        }
        connection.noteSessionObject(template)
        return ObjectHandle(rawValue: UInt(key))
    }

    /// `C_GenerateKey` with `CKM_GENERIC_SECRET_KEY_GEN` (the template gives `CKA_VALUE_LEN`): an HMAC key.
    public func generateGenericSecret(_ template: [Attribute]) throws -> ObjectHandle {
        var mechanism = CK_MECHANISM(
            mechanism: CK_MECHANISM_TYPE(CKM_GENERIC_SECRET_KEY_GEN), pParameter: nil, ulParameterLen: 0)
        var key: CK_OBJECT_HANDLE = 0
        try withTemplate(template) { list, count in
            try check("C_GenerateKey", functions.pointee.C_GenerateKey!(handle, &mechanism, list, count, &key))
        }
        connection.noteSessionObject(template)
        return ObjectHandle(rawValue: UInt(key))
    }

    /// `C_CreateObject` of a secret key whose `CKA_VALUE` is `value`: the template plus the value,
    /// read straight from locked memory (never copied into the template buffer).
    public func createSecretKey(_ template: [Attribute], value: SecretBytes) throws -> ObjectHandle {
        var object: CK_OBJECT_HANDLE = 0
        try withTemplate(template) { list, count in
            let total = Int(count) + 1
            let full = UnsafeMutablePointer<CK_ATTRIBUTE>.allocate(capacity: total)
            defer { full.deallocate() }
            if let list { full.initialize(from: list, count: Int(count)) }
            try value.withUnsafeBytes { raw in
                (full + Int(count)).initialize(
                    to: CK_ATTRIBUTE(
                        type: CK_ATTRIBUTE_TYPE(CKA_VALUE), pValue: UnsafeMutableRawPointer(mutating: raw.baseAddress),
                        ulValueLen: CK_ULONG(raw.count)))
                try check("C_CreateObject", functions.pointee.C_CreateObject!(handle, full, CK_ULONG(total), &object))
            }
        }
        connection.noteSessionObject(template)
        return ObjectHandle(rawValue: UInt(object))
    }

    /// `C_SetAttributeValue`: changes attributes of an object (for example its label).
    public func setAttributes(_ template: [Attribute], of object: ObjectHandle) throws {
        try withTemplate(template) { list, count in
            try check("C_SetAttributeValue", functions.pointee.C_SetAttributeValue!(handle, CK_OBJECT_HANDLE(object.rawValue), list, count))
        }
    }

    /// A `CK_ULONG` attribute.
    public func ulong(_ kind: Attribute.Kind, of object: ObjectHandle) throws -> UInt {
        let bytes = try attribute(kind, of: object)
        guard bytes.count == MemoryLayout<CK_ULONG>.size else {
            throw PKCS11Error("C_GetAttributeValue", UInt(CKR_ATTRIBUTE_VALUE_INVALID))
        }
        return UInt(bytes.withUnsafeBytes { $0.loadUnaligned(as: CK_ULONG.self) })
    }

    /// `C_DestroyObject`.
    public func destroy(_ object: ObjectHandle) throws {
        try check("C_DestroyObject", functions.pointee.C_DestroyObject!(handle, CK_OBJECT_HANDLE(object.rawValue)))
    }

    /// `C_GetAttributeValue` of one attribute. Throws the token's answer (for example
    /// `CKR_ATTRIBUTE_SENSITIVE` for the value of a sensitive key).
    public func attribute(_ kind: Attribute.Kind, of object: ObjectHandle) throws -> [UInt8] {
        var attribute = CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(kind.rawValue), pValue: nil, ulValueLen: 0)
        try check("C_GetAttributeValue", functions.pointee.C_GetAttributeValue!(handle, CK_OBJECT_HANDLE(object.rawValue), &attribute, 1))
        if attribute.ulValueLen == CK_ULONG.max /* CK_UNAVAILABLE_INFORMATION */ {
            throw PKCS11Error("C_GetAttributeValue", UInt(CKR_ATTRIBUTE_SENSITIVE))
        }
        var bytes = [UInt8](repeating: 0, count: Int(attribute.ulValueLen))
        try bytes.withUnsafeMutableBytes { buffer in
            attribute.pValue = buffer.baseAddress
            try check("C_GetAttributeValue", functions.pointee.C_GetAttributeValue!(handle, CK_OBJECT_HANDLE(object.rawValue), &attribute, 1))
        }
        return Array(bytes.prefix(Int(attribute.ulValueLen)))
    }

    /// A `CK_BBOOL` attribute.
    public func flag(_ kind: Attribute.Kind, of object: ObjectHandle) throws -> Bool {
        try attribute(kind, of: object).first.map { $0 != 0 } ?? false
    }

    // MARK: Wrapping

    /// `C_WrapKey` of `key` under `wrappingKey`.
    public func wrap(_ key: ObjectHandle, with wrappingKey: ObjectHandle, mechanism: Mechanism) throws -> [UInt8] {
        var ckMechanism = CK_MECHANISM(mechanism: CK_MECHANISM_TYPE(mechanism.rawValue), pParameter: nil, ulParameterLen: 0)
        var output = [UInt8](repeating: 0, count: 512)
        var length = CK_ULONG(output.count)
        try check(
            "C_WrapKey",
            functions.pointee.C_WrapKey!(
                handle, &ckMechanism, CK_OBJECT_HANDLE(wrappingKey.rawValue), CK_OBJECT_HANDLE(key.rawValue), &output, &length))
        return Array(output.prefix(Int(length)))
    }

    /// `C_UnwrapKey` of `wrapped` under `unwrappingKey` into a new object made from `template`.
    public func unwrap(_ wrapped: [UInt8], with unwrappingKey: ObjectHandle, mechanism: Mechanism, template: [Attribute]) throws -> ObjectHandle {
        var ckMechanism = CK_MECHANISM(mechanism: CK_MECHANISM_TYPE(mechanism.rawValue), pParameter: nil, ulParameterLen: 0)
        var key: CK_OBJECT_HANDLE = 0
        var input = wrapped
        try withTemplate(template) { list, count in
            try check(
                "C_UnwrapKey",
                functions.pointee.C_UnwrapKey!(
                    handle, &ckMechanism, CK_OBJECT_HANDLE(unwrappingKey.rawValue), &input, CK_ULONG(input.count), list,
                    count, &key))
        }
        connection.noteSessionObject(template)
        return ObjectHandle(rawValue: UInt(key))
    }

    // MARK: MACs

    /// `C_SignInit` + `C_Sign` of public `data` with a parameterless mechanism (`CKM_SHA256_HMAC`).
    public func sign(_ data: [UInt8], with key: ObjectHandle, mechanism: Mechanism) throws -> [UInt8] {
        var ckMechanism = CK_MECHANISM(mechanism: CK_MECHANISM_TYPE(mechanism.rawValue), pParameter: nil, ulParameterLen: 0)
        try check("C_SignInit", functions.pointee.C_SignInit!(handle, &ckMechanism, CK_OBJECT_HANDLE(key.rawValue)))
        var input = data.isEmpty ? [0] : data
        var output = [UInt8](repeating: 0, count: 64)
        var length = CK_ULONG(output.count)
        try check("C_Sign", functions.pointee.C_Sign!(handle, &input, CK_ULONG(data.count), &output, &length))
        return Array(output.prefix(Int(length)))
    }

    /// `C_VerifyInit` + `C_Verify`: true when `signature` is `data`'s MAC (or signature) under `key`;
    /// false when the token answers `CKR_SIGNATURE_INVALID` or `CKR_SIGNATURE_LEN_RANGE`. Other
    /// answers throw.
    public func verify(_ data: [UInt8], signature: [UInt8], with key: ObjectHandle, mechanism: Mechanism) throws -> Bool {
        var ckMechanism = CK_MECHANISM(mechanism: CK_MECHANISM_TYPE(mechanism.rawValue), pParameter: nil, ulParameterLen: 0)
        try check("C_VerifyInit", functions.pointee.C_VerifyInit!(handle, &ckMechanism, CK_OBJECT_HANDLE(key.rawValue)))
        var input = data.isEmpty ? [0] : data
        var tag = signature.isEmpty ? [0] : signature
        let rv = functions.pointee.C_Verify!(handle, &input, CK_ULONG(data.count), &tag, CK_ULONG(signature.count))
        if rv == CKR_SIGNATURE_INVALID || rv == CKR_SIGNATURE_LEN_RANGE { return false }
        try check("C_Verify", rv)
        return true
    }

    // MARK: AES-GCM

    /// `C_Encrypt` with `CKM_AES_GCM` (96-bit IV, 128-bit tag): returns ciphertext and tag.
    public func encryptGCM(key: ObjectHandle, iv: [UInt8], aad: [UInt8], plaintext: SecretBytes) throws -> (ciphertext: [UInt8], tag: [UInt8]) {
        var output = [UInt8](repeating: 0, count: plaintext.count + 16)
        var length = CK_ULONG(output.count)
        try withGCM(iv: iv, aad: aad) { mechanism in
            try check("C_EncryptInit", functions.pointee.C_EncryptInit!(handle, mechanism, CK_OBJECT_HANDLE(key.rawValue)))
            try plaintext.withUnsafeBytes { (input: UnsafeRawBufferPointer) throws in
                let data = UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: UInt8.self))
                try check("C_Encrypt", functions.pointee.C_Encrypt!(handle, data, CK_ULONG(input.count), &output, &length))
            }
        }
        guard Int(length) == plaintext.count + 16 else { throw PKCS11Error("C_Encrypt", UInt(CKR_DATA_LEN_RANGE)) }
        return (Array(output.prefix(plaintext.count)), Array(output[plaintext.count..<(plaintext.count + 16)]))
    }

    /// `C_Decrypt` with `CKM_AES_GCM`; the plaintext goes straight into locked memory.
    public func decryptGCM(key: ObjectHandle, iv: [UInt8], aad: [UInt8], ciphertext: [UInt8], tag: [UInt8]) throws -> SecretBytes {
        var input = ciphertext + tag
        return try withGCM(iv: iv, aad: aad) { mechanism in
            try check("C_DecryptInit", functions.pointee.C_DecryptInit!(handle, mechanism, CK_OBJECT_HANDLE(key.rawValue)))
            // Room for ciphertext + tag: some modules size the output check on the whole input.
            return try SecretBytes(capacity: input.count) { buffer in
                var length = CK_ULONG(buffer.count)
                let output = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
                try check("C_Decrypt", functions.pointee.C_Decrypt!(handle, &input, CK_ULONG(input.count), output, &length))
                guard Int(length) == ciphertext.count else { throw PKCS11Error("C_Decrypt", UInt(CKR_ENCRYPTED_DATA_LEN_RANGE)) }
                return Int(length)
            }
        }
    }

    private func withGCM<R>(iv: [UInt8], aad: [UInt8], _ body: (UnsafeMutablePointer<CK_MECHANISM>) throws -> R) throws -> R {
        var ivCopy = iv
        var aadCopy = aad.isEmpty ? [0] : aad
        return try ivCopy.withUnsafeMutableBufferPointer { ivBuffer in
            try aadCopy.withUnsafeMutableBufferPointer { aadBuffer in
                var parameters = CK_GCM_PARAMS(
                    pIv: ivBuffer.baseAddress, ulIvLen: CK_ULONG(iv.count), ulIvBits: CK_ULONG(iv.count * 8),
                    pAAD: aad.isEmpty ? nil : aadBuffer.baseAddress, ulAADLen: CK_ULONG(aad.count), ulTagBits: 128)
                return try withUnsafeMutablePointer(to: &parameters) { pointer in
                    var mechanism = CK_MECHANISM(
                        mechanism: CK_MECHANISM_TYPE(CKM_AES_GCM), pParameter: UnsafeMutableRawPointer(pointer),
                        ulParameterLen: CK_ULONG(MemoryLayout<CK_GCM_PARAMS>.size))
                    return try body(&mechanism)
                }
            }
        }
    }
}
