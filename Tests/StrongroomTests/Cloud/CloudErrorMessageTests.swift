import AWSClient
import Testing
import Strongroom
@testable import StrongroomCloud
@testable import StrongroomCore
@testable import StrongroomHSM
@testable import StrongroomLocal

/// A tier 2 error keeps the server's message, and nothing shaped like key material gets through.
@Suite struct CloudErrorMessageTests {
    @Test func theServersMessageReachesTheErrorWithoutKeyMaterial() {
        let key44 = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80="  // 32 bytes in base64
        let hex64 = String(repeating: "0123456789abcdef", count: 4)
        let error = AWSError(
            kind: .service, operation: "KMS Decrypt", status: 400, code: "ValidationException",
            message: "Value \(key44) at 'x' and \(hex64)\u{1}\nfor key arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            requestID: "5c0f1d7e-0000-4000-8000-1234567890ab")
        let mapped = CloudErrors.mapped(error)
        let text = "\(mapped)"
        #expect(text.contains("ValidationException"))
        #expect(text.contains("for key arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"), "\(text)")
        #expect(text.contains("request id 5c0f1d7e-0000-4000-8000-1234567890ab"))
        #expect(!text.contains(key44) && !text.contains(String(key44.prefix(40))), "\(text)")
        #expect(!text.contains(hex64) && !text.contains(String(hex64.prefix(40))), "\(text)")
        #expect(text.contains("<44 characters removed>") && text.contains("<64 characters removed>"), "\(text)")
        #expect(!text.unicodeScalars.contains { $0.properties.generalCategory == .control })
        let unavailable = CloudErrors.mapped(
            AWSError(kind: .service, operation: "KMS Decrypt", status: 400, code: "DisabledException", message: "key is disabled \(hex64)"),
            keyName: "k")
        #expect(unavailable.code == .keyUnavailable)
        #expect(unavailable.reason.contains("key is disabled") && !unavailable.reason.contains(hex64))
        let long = CloudErrors.serverMessage(String(repeating: "word ", count: 200))
        #expect(long.count <= 513 && long.hasSuffix("…"))
    }
}
