internal import CSodium
import Synchronization

/// Locked memory for small secrets, carved from slabs that come from `sodium_malloc`.
///
/// `sodium_malloc` gives each allocation its own guard pages and `mlock`, which costs about a dozen
/// system calls per allocation and free — more than the AES work of opening a share. Secrets of up to
/// 4 KiB (keys, seeds, PINs, typical shares) are therefore served from 64 KiB slabs allocated with
/// `sodium_malloc` (so each slab is guarded on both sides, locked and zeroed when freed) and split
/// into power-of-two slots from 32 to 4096 bytes. A slot is zeroed before it is reused. Larger
/// secrets get a `sodium_malloc` allocation of their own. Slabs are kept for the life of the process.
///
/// The trade-off, documented in docs/security.md: guard pages bound each slab, not each small
/// secret, so an overrun inside a slab is not trapped; memory stays locked and is always zeroed.
final class SecureArena: Sendable {
    static let shared = SecureArena()

    static let slabSize = 65536
    static let largestSlot = 4096
    private static let smallestShift = 5  // 32 bytes

    private struct State {
        // Free slots per size class, as addresses (raw pointers are not Sendable).
        var free: [[UInt]] = Array(repeating: [], count: 8)
        var slabs: [UInt] = []
    }

    private let state = Mutex(State())

    /// The slot size used for `count` bytes, or nil when it gets a dedicated allocation.
    static func slotSize(for count: Int) -> Int? {
        guard count <= largestSlot else { return nil }
        var size = 1 << smallestShift
        while size < count { size <<= 1 }
        return size
    }

    private static func sizeClass(_ size: Int) -> Int { size.trailingZeroBitCount - smallestShift }

    /// Returns zeroed locked memory of at least `count` bytes and the size actually reserved.
    func allocate(_ count: Int) -> (UnsafeMutableRawPointer, Int)? {
        guard let size = SecureArena.slotSize(for: count) else {
            guard let pointer = sodium_malloc(count) else { return nil }
            sodium_memzero(pointer, count)
            return (pointer, count)
        }
        let sizeClass = SecureArena.sizeClass(size)
        let address: UInt? = state.withLock { state in
            if let address = state.free[sizeClass].popLast() { return address }
            guard let slab = sodium_malloc(SecureArena.slabSize) else { return nil }
            sodium_memzero(slab, SecureArena.slabSize)
            let base = UInt(bitPattern: slab)
            state.slabs.append(base)
            let slots = SecureArena.slabSize / size
            state.free[sizeClass].reserveCapacity(state.free[sizeClass].count + slots)
            for index in stride(from: slots - 1, through: 1, by: -1) {
                state.free[sizeClass].append(base + UInt(index * size))
            }
            return base
        }
        guard let address, let pointer = UnsafeMutableRawPointer(bitPattern: address) else { return nil }
        return (pointer, size)
    }

    /// Takes back memory from ``allocate(_:)``; the caller has already zeroed it.
    func release(_ pointer: UnsafeMutableRawPointer, size: Int) {
        guard size <= SecureArena.largestSlot, SecureArena.slotSize(for: size) == size else {
            sodium_free(pointer)
            return
        }
        let address = UInt(bitPattern: pointer)
        state.withLock { $0.free[SecureArena.sizeClass(size)].append(address) }
    }
}
