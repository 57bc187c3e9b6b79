import Foundation
import SecureCrypto
import StrongroomCore

/// Moving secrets between protobuf messages (whose `bytes` fields are `Data`) and ``SecretBytes``.
///
/// In: the bytes are copied into locked memory at once and the message's buffer is overwritten with
/// zeros. Out: the response's `Data` owns a buffer that is zeroed when the response is released (after
/// gRPC serialised it). What stays outside our reach is documented in docs/server.md ("API", "Secrets
/// in transit"): the HTTP/2 frames NIO read or wrote, which its allocator reuses unwiped.
enum SecretTransfer {
    /// Copies `data` into a new secret, then overwrites `data`'s buffer with zeros.
    static func take(_ data: Data) throws -> SecretBytes {
        let secret = try data.withUnsafeBytes { raw in try SecretBytes(copying: raw) }
        wipe(data)
        return secret
    }

    /// Overwrites the buffer behind `data` with zeros, in place.
    ///
    /// The message came from SwiftProtobuf's decoder, which gives each `bytes` field a buffer of its
    /// own; nothing else reads it once the handler holds the secret, so writing through the pointer
    /// `withUnsafeBytes` lends is safe here (a mutating copy would wipe a fresh copy instead: the
    /// request value is shared with the executor). Data of 14 bytes or fewer is stored inline in the
    /// value itself, which the handler cannot reach; shares are longer.
    static func wipe(_ data: Data) {
        data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress, raw.count > 0 else { return }
            explicit_bzero(UnsafeMutableRawPointer(mutating: base), raw.count)
        }
    }

    /// A `Data` holding a copy of `secret` in a buffer that is zeroed and freed when the last copy of the
    /// `Data` is released: the response message is its only holder.
    static func responseBytes(_ secret: SecretBytes) -> Data {
        let count = secret.count
        guard count > 0, let buffer = malloc(count) else { return Data() }
        secret.withUnsafeBytes { raw in buffer.copyMemory(from: raw.baseAddress!, byteCount: count) }
        return Data(bytesNoCopy: buffer, count: count, deallocator: .custom { pointer, size in
            explicit_bzero(pointer, size)
            free(pointer)
        })
    }
}
