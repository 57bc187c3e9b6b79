import NIOCore
import NIOHTTP1
import Testing
@testable import AWSClient

/// The service's own error code and message are read from every form of error answer.
@Suite struct ErrorAnswerTests {
    static func response(_ status: Int, _ body: String, headers: HTTPHeaders = [:]) -> AWSResponse {
        AWSResponse(status: status, headers: headers, body: ByteBuffer(string: body), attempts: 1)
    }

    @Test func kmsKeepsTheMessageOfJSONAndOfXMLErrorAnswers() {
        let json = KMSClient.errorCode(
            Self.response(400, #"{"__type":"com.amazonaws.kms#NotFoundException","message":"Key 'arn:aws:kms:us-east-1:1:key/abc' does not exist"}"#))
        #expect(json.code == "NotFoundException")
        #expect(json.message == "Key 'arn:aws:kms:us-east-1:1:key/abc' does not exist")
        // The query-protocol XML some KMS-compatible servers (moto) send for authentication failures.
        let xml = KMSClient.errorCode(
            Self.response(
                403,
                "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"))
        #expect(xml.code == "InvalidClientTokenId")
        #expect(xml.message == "The security token included in the request is invalid.")
    }

    @Test func s3KeepsTheMessageOfBothXMLForms() {
        let plain = S3Client.error(
            Self.response(403, "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message><RequestId>r-2</RequestId></Error>"),
            operation: "S3 GetObject b/k")
        #expect(plain.code == "SignatureDoesNotMatch")
        #expect(plain.message == "The request signature we calculated does not match")
        #expect(plain.requestID == "r-2")
        let wrapped = S3Client.error(
            Self.response(403, "<ErrorResponse><Error><Code>AccessDenied</Code><Message>User is not authorized</Message></Error><RequestId>r-3</RequestId></ErrorResponse>"),
            operation: "S3 GetObject b/k")
        #expect(wrapped.code == "AccessDenied")
        #expect(wrapped.message == "User is not authorized")
        #expect(wrapped.requestID == "r-3")
        #expect("\(wrapped)".contains("User is not authorized"))
    }
}
