import SecureCrypto
import Testing
@testable import AWSClient

/// AWSError has the common error shape (CodedError): its code is the service's error code when the
/// service answered with one, else the kind of failure; errors are equal when their codes are.
@Suite struct AWSErrorShapeTests {
    @Test func theCodeIsTheServiceCodeOrTheKindOfFailure() {
        let denied = AWSError(kind: .service, operation: "S3 GetObject b/k", status: 403, code: "AccessDenied", message: "no")
        #expect(denied.code == "AccessDenied")
        #expect(denied.code == .service("AccessDenied"))
        #expect(denied.serviceCode == "AccessDenied")
        #expect(denied.kind == .service)
        #expect(denied.isAccessDenied)
        #expect("\(denied.code)" == "AccessDenied")

        let down = AWSError(kind: .unreachable, operation: "KMS Decrypt", message: "connection refused", attempts: 4)
        #expect(down.code == .unreachable)
        #expect(down.code != "unreachable", "a string literal is a service code, never a kind")
        #expect(down.serviceCode == nil)
        #expect(down.kind == .unreachable)
        #expect(down.reason == "\(down)")
        #expect(down.underlying == nil)

        let bare = AWSError(kind: .service, operation: "S3 PutObject b/k", status: 500, message: "HTTP 500")
        #expect(bare.code == .service(nil))
        #expect("\(bare)" == "S3 PutObject b/k: HTTP 500 error: HTTP 500")
    }

    @Test func errorsAreEqualByCodeOnly() {
        let first = AWSError(kind: .service, operation: "S3 GetObject b/a", status: 404, code: "NoSuchKey", message: "a", requestID: "r-1")
        let second = AWSError(kind: .service, operation: "S3 GetObject b/b", status: 404, code: "NoSuchKey", message: "b", requestID: "r-2")
        let other = AWSError(kind: .service, operation: "S3 GetObject b/a", status: 404, code: "NoSuchBucket", message: "a", requestID: "r-1")
        #expect(first == second)
        #expect(first != other)
        #expect(Set([first, second, other]).count == 2)
        // A copy built from another error's code keeps it (S3BlobStore rebuilds errors this way).
        let copy = AWSError(kind: first.kind, operation: first.operation, status: first.status, code: first.code, message: "redacted")
        #expect(copy == first)
        #expect(copy.kind == .service)
        #expect(AWSError.isThrottling(AWSError.Code.service("SlowDown")))
        #expect(!AWSError.isThrottling(AWSError.Code.unreachable))
    }
}
