#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A TCP relay on 127.0.0.1 in front of the real S3/KMS server, so a test can take the server
/// away from the client as a restart does (every open connection reset, new ones refused) and
/// bring it back, without losing the server's state (moto keeps its state in memory only).
final class TCPRelay: @unchecked Sendable {
    let upstreamPort: UInt16
    private(set) var port: UInt16 = 0
    private let lock = NSLock()
    private var listener: Int32 = -1
    private var open: Set<Int32> = []

    init(upstreamPort: UInt16) throws {
        self.upstreamPort = upstreamPort
        try listen(on: 0)
    }

    deinit { cut() }

    var endpoint: String { "http://127.0.0.1:\(port)" }

    /// Resets every connection and stops accepting new ones (connections are refused).
    func cut() {
        lock.lock()
        let sockets = open
        open.removeAll()
        let listening = listener
        listener = -1
        lock.unlock()
        if listening >= 0 {
            shutdown(listening, Int32(SHUT_RDWR))
            close(listening)
        }
        for socket in sockets {
            var hard = linger(l_onoff: 1, l_linger: 0)  // RST, as a dying server's kernel sends
            setsockopt(socket, SOL_SOCKET, SO_LINGER, &hard, socklen_t(MemoryLayout<linger>.size))
            shutdown(socket, Int32(SHUT_RDWR))
        }
    }

    /// Accepts connections again on the same port.
    func resume() throws { try listen(on: port) }

    private func listen(on wanted: UInt16) throws {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw POSIXError(.EIO) }
        var yes: Int32 = 1
        setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = TCPRelay.loopback(port: wanted)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(socket, 64) == 0 else {
            close(socket)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        lock.lock()
        listener = socket
        port = UInt16(bigEndian: address.sin_port)
        lock.unlock()
        Thread.detachNewThread { [self] in acceptLoop(socket) }
    }

    private func acceptLoop(_ socket: Int32) {
        while true {
            let client = accept(socket, nil, nil)
            guard client >= 0 else { return }
            let upstream = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = TCPRelay.loopback(port: upstreamPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else {
                close(client)
                close(upstream)
                continue
            }
            lock.lock()
            let live = listener == socket
            if live { open.formUnion([client, upstream]) }
            lock.unlock()
            guard live else {
                close(client)
                close(upstream)
                return
            }
            Thread.detachNewThread { [self] in pump(from: client, to: upstream) }
            Thread.detachNewThread { [self] in pump(from: upstream, to: client) }
        }
    }

    private func pump(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = read(source, &buffer, buffer.count)
            guard count > 0 else { break }
            var sent = 0
            while sent < count {
                let written = buffer[sent..<count].withUnsafeBytes { write(destination, $0.baseAddress, count - sent) }
                guard written > 0 else { break }
                sent += written
            }
            guard sent == count else { break }
        }
        shutdown(source, Int32(SHUT_RDWR))
        shutdown(destination, Int32(SHUT_RDWR))
        lock.lock()
        let mine = open.remove(source) != nil
        lock.unlock()
        if mine { close(source) }
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}
