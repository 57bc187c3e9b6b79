#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import SecureCrypto
import Strongroom
import Synchronization

/// `strongroom bench --rotation-scale 10000,100000,1000000`: rotation's time and memory as the vault
/// grows. One tier 1 vault is filled through ``ShareStore/store(_:_:metadata:)`` (real sealed envelopes,
/// durable writes, one share version per share id) up to each size in turn and rotated there; each
/// rotation reports its wall time, rate and the peak RSS of the rotation alone (the kernel's
/// high-water mark, `VmHWM`, reset through `/proc/self/clear_refs` just before it).
struct RotationScaleBench {
    let bench: BenchCommand
    let base: String
    let sizes: [Int]
    let logger: Logger

    /// Concurrent stores while filling: durable writes are bound by fsync, which overlaps well.
    static let fillTasks = 16

    func run() async throws {
        let settings = StrongroomConfiguration.Local(path: "\(base)/rotation-scale")
        _ = try await LocalVault.initialise(settings, logger: logger)
        let store = try await LocalVault.open(settings, logger: logger)
        let level = bench.concurrencies.max() ?? 1
        var filled = 0
        for size in sizes.sorted() {
            let start = ContinuousClock.now
            let from = filled
            let stored = Counter()
            try await bench.spread(size - from, over: RotationScaleBench.fillTasks) { offset in
                let id = try ShareID(String(format: "r-%07d", from + offset))
                _ = try await store.store(id, try SecureRandom.secretBytes(count: 32))
                let done = stored.increment()
                if done % RotationScaleBench.progressEvery == 0 {
                    RotationScaleBench.note("fill: \(from + done) share versions after \(String(format: "%.1f", (ContinuousClock.now - start).seconds)) s")
                }
            }
            filled = size
            bench.report(op: "fill", concurrency: RotationScaleBench.fillTasks, count: size - from, elapsed: .now - start)

            let resetPeak = RotationScaleBench.resetPeakRSS()
            let before = RotationScaleBench.procStatusMiB("VmRSS")
            let rotationStart = ContinuousClock.now
            // A progress line every `progressEvery` versions (time so far, peak RSS so far) shows
            // the rate and the memory as the rotation goes. The handler makes the rotation count
            // first (one more directory read per share), as `strongroom rotate` on a terminal does.
            let report = try await store.rotateWrappingKey(concurrency: level) { progress in
                guard progress.done % RotationScaleBench.progressEvery == 0 else { return }
                RotationScaleBench.note(
                    "rotate: \(progress.done)/\(progress.total) after \(String(format: "%.1f", (ContinuousClock.now - rotationStart).seconds)) s, peak RSS \(String(format: "%.1f", RotationScaleBench.procStatusMiB("VmHWM"))) MiB")
            }
            let elapsed = ContinuousClock.now - rotationStart
            guard report.rewrapped == size, report.failedCount == 0 else {
                throw StrongroomError(.integrityCheckFailed, "rotation rewrapped \(report.rewrapped) of \(size) share versions")
            }
            var extra = ["vault_versions": Double(size), "rss_before_mib": before]
            extra[resetPeak ? "peak_rss_mib" : "process_peak_rss_mib"] = RotationScaleBench.procStatusMiB("VmHWM")
            bench.report(op: "rotate_scale", concurrency: level, count: report.rewrapped, elapsed: elapsed, extra: extra)
        }
    }

    /// A count that concurrent tasks share.
    final class Counter: Sendable {
        private let value = Atomic<Int>(0)
        func increment() -> Int { value.wrappingAdd(1, ordering: .relaxed).newValue }
    }

    /// Share versions between two progress lines on stderr.
    static let progressEvery = 50_000

    static func note(_ line: String) {
        FileHandle.standardError.write(Data("\(line)\n".utf8))
    }

    /// Resets the kernel's peak-RSS mark (`VmHWM`) to the current RSS (Linux 4.0 and later); false
    /// when it could not, in which case `VmHWM` is the whole process's peak.
    static func resetPeakRSS() -> Bool {
        let fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return write(fd, "5", 1) == 1
    }

    /// A `kB` line of `/proc/self/status` (`VmHWM`, `VmRSS`) in MiB; 0 when there is none.
    static func procStatusMiB(_ field: String) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("\(field):") {
            // "VmHWM:\t   35000 kB": a tab, then spaces.
            let kilobytes = line.dropFirst(field.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first
                .flatMap { Double($0) } ?? 0
            return kilobytes / 1024
        }
        return 0
    }
}
