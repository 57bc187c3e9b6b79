internal import CSodium
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SecureCrypto

/// A KMS key's metadata (DescribeKey, CreateKey).
public struct KMSKeyMetadata: Sendable, Hashable {
    /// The key id (a UUID for AWS).
    public var keyID: String
    /// The key ARN.
    public var arn: String
    /// `Enabled`, `Disabled`, `PendingDeletion`, `PendingImport`, `Unavailable`…
    public var keyState: String
    /// The description given at creation.
    public var description: String
    /// `SYMMETRIC_DEFAULT`, `HMAC_256`… (empty when the answer did not say).
    public var keySpec: String = ""
    /// `ENCRYPT_DECRYPT`, `GENERATE_VERIFY_MAC`… (empty when the answer did not say).
    public var keyUsage: String = ""
}

/// A KMS client (AWS JSON 1.1 protocol, `TrentService`) on AsyncHTTPClient, SigV4-signed, with
/// bounded jittered retries.
///
/// Plaintext data keys in answers are decoded from base64 straight into ``SecretBytes`` and the
/// answer's buffer is wiped before it is released; request bodies carry only ciphertext, except
/// ``encrypt(keyID:plaintext:context:)``'s, which is written once into one buffer that every
/// attempt sends (no copy per attempt) and which is zeroed in place after the last one.
public struct KMSClient: Sendable {
    let transport: AWSTransport

    /// Creates a client for `endpoint` (`https://kms.eu-west-1.amazonaws.com`). `logger` gets the
    /// client's own messages (retries); AsyncHTTPClient logs through `httpLogger` (default:
    /// `logger`), filtered so that it never logs a body (data keys) or a header (`Authorization`,
    /// `X-Amz-Security-Token`) and never below `debug`, whatever the level asked for.
    public init(
        endpoint: AWSEndpoint, region: String, credentials: AWSCredentials, retry: RetryPolicy = RetryPolicy(),
        logger: Logger, httpLogger: Logger? = nil
    ) {
        transport = AWSTransport(
            endpoint: endpoint,
            signer: SigV4Signer(credentials: credentials, region: region, service: "kms", options: .standard),
            retry: retry, logger: logger, httpLogger: httpLogger)
    }

    // MARK: Data keys

    /// GenerateDataKey with KeySpec AES_256: a fresh 32-byte data key, in the clear (locked
    /// memory) and encrypted under `keyID` bound to `context`.
    public func generateDataKey(keyID: String, context: [String: String]) async throws(AWSError) -> (plaintext: SecretBytes, ciphertextBlob: [UInt8], keyID: String) {
        let answer = try await call(
            "GenerateDataKey", ["KeyId": keyID, "KeySpec": "AES_256", "EncryptionContext": context], secret: true,
            subject: keyID)
        guard let plaintext = answer.secret, plaintext.count == 32 else {
            throw AWSError(kind: .invalidResponse, operation: "KMS GenerateDataKey \(keyID)", message: "no 32-byte Plaintext in the answer")
        }
        return (plaintext, try blob(answer, "CiphertextBlob", "GenerateDataKey"), answer.fields["KeyId"] as? String ?? keyID)
    }

    /// Decrypt: the data key inside `ciphertextBlob`, which must have been made with `context`, and
    /// the key that encrypted it (compare it with the one expected). `keyID`, when given, is sent
    /// for KMS to check as well.
    public func decrypt(ciphertextBlob: [UInt8], context: [String: String], keyID: String? = nil) async throws(AWSError) -> (plaintext: SecretBytes, keyID: String) {
        var parameters: [String: Any] = ["CiphertextBlob": Data(ciphertextBlob).base64EncodedString(), "EncryptionContext": context]
        if let keyID { parameters["KeyId"] = keyID }
        let answer = try await call("Decrypt", parameters, secret: true, subject: keyID ?? "(key named in the blob)")
        guard let plaintext = answer.secret, let used = answer.fields["KeyId"] as? String else {
            throw AWSError(kind: .invalidResponse, operation: "KMS Decrypt", message: "no Plaintext or KeyId in the answer")
        }
        return (plaintext, used)
    }

    /// ReEncrypt: the same data key, now encrypted under `destinationKeyID`, without it ever leaving KMS.
    public func reEncrypt(
        ciphertextBlob: [UInt8], sourceContext: [String: String], destinationKeyID: String, destinationContext: [String: String]
    ) async throws(AWSError) -> (ciphertextBlob: [UInt8], keyID: String) {
        let answer = try await call(
            "ReEncrypt",
            [
                "CiphertextBlob": Data(ciphertextBlob).base64EncodedString(), "SourceEncryptionContext": sourceContext,
                "DestinationKeyId": destinationKeyID, "DestinationEncryptionContext": destinationContext,
            ], secret: false, subject: destinationKeyID)
        return (try blob(answer, "CiphertextBlob", "ReEncrypt"), answer.fields["KeyId"] as? String ?? destinationKeyID)
    }

    /// Encrypt: up to 4 KiB of plaintext encrypted under `keyID`.
    public func encrypt(keyID: String, plaintext: SecretBytes, context: [String: String]) async throws(AWSError) -> [UInt8] {
        let answer = try await call(
            "Encrypt", ["KeyId": keyID, "EncryptionContext": context], secret: false, subject: keyID,
            secretParameter: ("Plaintext", plaintext))
        return try blob(answer, "CiphertextBlob", "Encrypt")
    }

    // MARK: Keys

    /// DescribeKey: the key's metadata (works with ids, ARNs and `alias/…` names).
    public func describeKey(_ keyID: String) async throws(AWSError) -> KMSKeyMetadata {
        try metadata(try await call("DescribeKey", ["KeyId": keyID], secret: false, subject: keyID), "DescribeKey")
    }

    /// CreateKey: a new symmetric encryption key.
    public func createKey(description: String, tags: [String: String] = [:]) async throws(AWSError) -> KMSKeyMetadata {
        var parameters: [String: Any] = [
            "Description": description, "KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT",
        ]
        if !tags.isEmpty {
            parameters["Tags"] = tags.sorted { $0.key < $1.key }.map { ["TagKey": $0.key, "TagValue": $0.value] }
        }
        return try metadata(try await call("CreateKey", parameters, secret: false, subject: description), "CreateKey")
    }

    /// CreateKey with KeySpec `HMAC_256` and KeyUsage `GENERATE_VERIFY_MAC`: a key that only makes
    /// and checks HMAC-SHA256 tags (``generateMac(keyID:message:)``, ``verifyMac(keyID:message:mac:)``)
    /// and never leaves KMS.
    public func createHMACKey(description: String, tags: [String: String] = [:]) async throws(AWSError) -> KMSKeyMetadata {
        var parameters: [String: Any] = [
            "Description": description, "KeyUsage": "GENERATE_VERIFY_MAC", "KeySpec": "HMAC_256",
        ]
        if !tags.isEmpty {
            parameters["Tags"] = tags.sorted { $0.key < $1.key }.map { ["TagKey": $0.key, "TagValue": $0.value] }
        }
        return try metadata(try await call("CreateKey", parameters, secret: false, subject: description), "CreateKey")
    }

    /// The most bytes GenerateMac and VerifyMac accept as `Message`.
    public static let maximumMacMessageSize = 4096

    /// GenerateMac with `HMAC_SHA_256`: the 32-byte tag of `message` (1 to 4,096 bytes, not secret:
    /// it travels in the request) under the HMAC key `keyID`.
    public func generateMac(keyID: String, message: [UInt8]) async throws(AWSError) -> [UInt8] {
        try checkMacMessage(message, "GenerateMac", keyID)
        let answer = try await call(
            "GenerateMac",
            ["KeyId": keyID, "MacAlgorithm": "HMAC_SHA_256", "Message": Data(message).base64EncodedString()],
            secret: false, subject: keyID)
        return try blob(answer, "Mac", "GenerateMac")
    }

    /// VerifyMac with `HMAC_SHA_256`: true when `mac` is `message`'s tag under `keyID`. A tag that does
    /// not verify (KMS answers `KMSInvalidMacException`) is false, not an error; an unusable key, a
    /// refusal or an outage throw.
    public func verifyMac(keyID: String, message: [UInt8], mac: [UInt8]) async throws(AWSError) -> Bool {
        try checkMacMessage(message, "VerifyMac", keyID)
        guard !mac.isEmpty else { return false }
        do {
            let answer = try await call(
                "VerifyMac",
                [
                    "KeyId": keyID, "MacAlgorithm": "HMAC_SHA_256", "Message": Data(message).base64EncodedString(),
                    "Mac": Data(mac).base64EncodedString(),
                ], secret: false, subject: keyID)
            return answer.fields["MacValid"] as? Bool ?? false
        } catch where error.code == "KMSInvalidMacException" {
            return false
        }
    }

    private func checkMacMessage(_ message: [UInt8], _ action: String, _ keyID: String) throws(AWSError) {
        guard (1...KMSClient.maximumMacMessageSize).contains(message.count) else {
            throw AWSError(
                kind: .configuration, operation: "KMS \(action) \(keyID)",
                message: "a MAC message is 1 to \(KMSClient.maximumMacMessageSize) bytes, got \(message.count)")
        }
    }

    /// ScheduleKeyDeletion after a waiting period of 7 to 30 days (cancellable until then).
    public func scheduleKeyDeletion(_ keyID: String, pendingWindowDays: Int) async throws(AWSError) {
        _ = try await call(
            "ScheduleKeyDeletion", ["KeyId": keyID, "PendingWindowInDays": pendingWindowDays], secret: false, subject: keyID)
    }

    /// ListKeys: the ids of every KMS key in the account and region (all pages).
    public func listKeys() async throws(AWSError) -> [String] {
        var ids: [String] = []
        var marker: String?
        repeat {
            var parameters: [String: Any] = ["Limit": 1000]
            if let marker { parameters["Marker"] = marker }
            let answer = try await call("ListKeys", parameters, secret: false, subject: "(all keys)")
            for entry in answer.fields["Keys"] as? [[String: Any]] ?? [] {
                if let id = entry["KeyId"] as? String { ids.append(id) }
            }
            let truncated = answer.fields["Truncated"] as? Bool ?? false
            marker = truncated ? answer.fields["NextMarker"] as? String : nil
        } while marker != nil
        return ids
    }

    /// ListResourceTags: a key's tags (all pages).
    public func listResourceTags(_ keyID: String) async throws(AWSError) -> [String: String] {
        var tags: [String: String] = [:]
        var marker: String?
        repeat {
            var parameters: [String: Any] = ["KeyId": keyID, "Limit": 50]
            if let marker { parameters["Marker"] = marker }
            let answer = try await call("ListResourceTags", parameters, secret: false, subject: keyID)
            for tag in answer.fields["Tags"] as? [[String: Any]] ?? [] {
                if let key = tag["TagKey"] as? String { tags[key] = tag["TagValue"] as? String ?? "" }
            }
            let truncated = answer.fields["Truncated"] as? Bool ?? false
            marker = truncated ? answer.fields["NextMarker"] as? String : nil
        } while marker != nil
        return tags
    }

    /// DisableKey (tests and operators).
    public func disableKey(_ keyID: String) async throws(AWSError) {
        _ = try await call("DisableKey", ["KeyId": keyID], secret: false, subject: keyID)
    }

    /// EnableKey.
    public func enableKey(_ keyID: String) async throws(AWSError) {
        _ = try await call("EnableKey", ["KeyId": keyID], secret: false, subject: keyID)
    }

    // MARK: Protocol

    struct Answer {
        var fields: [String: Any]
        var secret: SecretBytes?
    }

    private func metadata(_ answer: Answer, _ action: String) throws(AWSError) -> KMSKeyMetadata {
        guard let meta = answer.fields["KeyMetadata"] as? [String: Any], let id = meta["KeyId"] as? String else {
            throw AWSError(kind: .invalidResponse, operation: "KMS \(action)", message: "no KeyMetadata.KeyId in the answer")
        }
        return KMSKeyMetadata(
            keyID: id, arn: meta["Arn"] as? String ?? id, keyState: meta["KeyState"] as? String ?? "",
            description: meta["Description"] as? String ?? "", keySpec: meta["KeySpec"] as? String ?? "",
            keyUsage: meta["KeyUsage"] as? String ?? "")
    }

    private func blob(_ answer: Answer, _ field: String, _ action: String) throws(AWSError) -> [UInt8] {
        guard let text = answer.fields[field] as? String, let data = Data(base64Encoded: text), !data.isEmpty else {
            throw AWSError(kind: .invalidResponse, operation: "KMS \(action)", message: "no \(field) in the answer")
        }
        return Array(data)
    }

    /// One JSON 1.1 call. With `secret`, the answer's `Plaintext` goes into locked memory; the
    /// answer buffer is wiped either way once read. `subject` names the key in errors.
    private func call(
        _ action: String, _ parameters: [String: Any], secret: Bool, subject: String,
        secretParameter: (String, SecretBytes)? = nil
    ) async throws(AWSError) -> Answer {
        let operation = "KMS \(action) \(subject)"
        let body: [UInt8]
        do {
            body = Array(try JSONSerialization.data(withJSONObject: parameters, options: [.sortedKeys]))
        } catch {
            throw AWSError(kind: .configuration, operation: operation, message: "could not encode the request")
        }
        var request = AWSRequest(
            method: .POST, host: transport.endpoint.host, path: "/",
            headers: [("content-type", "application/x-amz-json-1.1"), ("x-amz-target", "TrentService.\(action)")],
            operation: operation)
        if let (name, value) = secretParameter {
            // `{"Name":"<base64>",` + the other members, written once into a buffer of its final
            // size (no reallocation leaves a copy behind), which every attempt sends as is and
            // which is zeroed afterwards.
            let encodedLength = sodium_base64_encoded_len(value.count, sodium_base64_VARIANT_ORIGINAL)
            let head = Array("{\"\(name)\":\"".utf8)
            let total = head.count + encodedLength - 1 + 1 + (body.count > 2 ? body.count : 1)
            var buffer = ByteBufferAllocator().buffer(capacity: total)
            buffer.writeBytes(head)
            value.withUnsafeBytes { raw in
                _ = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: encodedLength) { out in
                    _ = sodium_bin2base64(
                        out.baseAddress!.assumingMemoryBound(to: CChar.self), encodedLength,
                        raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count, sodium_base64_VARIANT_ORIGINAL)
                    return encodedLength - 1  // without the NUL terminator
                }
            }
            buffer.writeInteger(UInt8(ascii: "\""))
            if body.count > 2 {
                buffer.writeInteger(UInt8(ascii: ","))
                buffer.writeBytes(body.dropFirst())
            } else {
                buffer.writeInteger(UInt8(ascii: "}"))
            }
            request.body = buffer
        } else {
            request.body = ByteBuffer(bytes: body)
        }
        var response: AWSResponse
        do {
            response = try await transport.send(request) { response in KMSClient.errorCode(response).code }
        } catch {
            if secretParameter != nil { wipeRequest(&request) }
            throw error
        }
        if secretParameter != nil { wipeRequest(&request) }
        defer { KMSClient.wipe(&response.body, logger: transport.logger) }
        guard response.status == 200 else {
            let (code, message) = KMSClient.errorCode(response)
            throw AWSError(
                kind: .service, operation: operation, status: response.status, code: code,
                message: message ?? "HTTP \(response.status)",
                requestID: response.headers.first(name: "x-amzn-requestid"), attempts: response.attempts)
        }
        var plaintext: SecretBytes?
        if secret {
            do {
                plaintext = try KMSClient.extractPlaintext(&response.body)
            } catch {
                throw AWSError(kind: .invalidResponse, operation: operation, message: "the Plaintext field could not be decoded")
            }
        }
        var fields: [String: Any] = [:]
        if response.body.readableBytes > 0 {
            // The Plaintext member is overwritten by now: the rest of the answer is public.
            let object = response.body.withUnsafeReadableBytes { raw in
                try? JSONSerialization.jsonObject(with: Data(raw), options: [.fragmentsAllowed])
            }
            guard object != nil else {
                throw AWSError(kind: .invalidResponse, operation: operation, message: "the answer is not JSON")
            }
            fields = object as? [String: Any] ?? [:]
        }
        return Answer(fields: fields, secret: plaintext)
    }

    /// Decodes the `"Plaintext":"<base64>"` member into locked memory and overwrites its base64
    /// text in the buffer with `A`s, so the JSON parser that reads the rest never sees the key.
    static func extractPlaintext(_ buffer: inout ByteBuffer) throws -> SecretBytes? {
        try buffer.withUnsafeMutableReadableBytes { bytes -> SecretBytes? in
            guard bytes.count > 0 else { return nil }
            let key = Array("\"Plaintext\"".utf8)
            guard let found = search(bytes, for: key) else { return nil }
            var index = found + key.count
            func skipSpace() { while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 } }
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw AWSError.configuration("bad JSON") }
            index += 1
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw AWSError.configuration("bad JSON") }
            index += 1
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: "\"") { index += 1 }
            guard index < bytes.count else { throw AWSError.configuration("bad JSON") }
            let text = UnsafeMutableRawBufferPointer(rebasing: bytes[start..<index])
            defer { for offset in text.indices { text[offset] = UInt8(ascii: "A") } }
            return try SecretBytes(capacity: text.count / 4 * 3 + 3) { out in
                var written = 0
                let status = sodium_base642bin(
                    out.baseAddress!.assumingMemoryBound(to: UInt8.self), out.count,
                    text.baseAddress?.assumingMemoryBound(to: CChar.self), text.count, nil, &written, nil,
                    sodium_base64_VARIANT_ORIGINAL)
                guard status == 0 else { throw AWSError.configuration("bad base64") }
                return written
            }
        }
    }

    private static func search(_ haystack: UnsafeMutableRawBufferPointer, for needle: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        outer: for start in 0...(haystack.count - needle.count) {
            for offset in 0..<needle.count where haystack[start + offset] != needle[offset] { continue outer }
            return start
        }
        return nil
    }

    /// Zeroes an answer's buffer in place, secrets or not. Says so in the log (never the bytes)
    /// when the storage was still shared, so that only a copy could be zeroed.
    static func wipe(_ buffer: inout ByteBuffer, logger: Logger) {
        if !buffer.wipeInPlace() {
            logger.debug("a KMS answer buffer was still shared with the HTTP client; only a copy was zeroed")
        }
    }

    private func wipeRequest(_ request: inout AWSRequest) {
        if !request.wipeBody() {
            transport.logger.debug("a KMS request body was still shared with the HTTP client; only a copy was zeroed")
        }
    }

    /// The error code (`NotFoundException`, without any `namespace#` prefix) and message of an answer.
    static func errorCode(_ response: AWSResponse) -> (code: String?, message: String?) {
        guard response.status >= 400 else { return (nil, nil) }
        let object = response.body.withUnsafeReadableBytes { raw in
            try? JSONSerialization.jsonObject(with: Data(raw))
        }
        let fields = object as? [String: Any] ?? [:]
        var code = fields["__type"] as? String ?? response.headers.first(name: "x-amzn-errortype")
        if let text = code, let hash = text.lastIndex(of: "#") { code = String(text[text.index(after: hash)...]) }
        if let text = code, let colon = text.firstIndex(of: ":") { code = String(text[..<colon]) }
        var message = fields["message"] as? String ?? fields["Message"] as? String
        if object == nil, response.body.readableBytes > 0,
            let error = XMLElement.errorElement(response.body.withUnsafeReadableBytes { Array($0) })
        {
            // Some KMS-compatible servers (moto) answer authentication failures in XML.
            code = code ?? error.value("Code")
            message = error.value("Message")
        }
        return (code, message)
    }
}
