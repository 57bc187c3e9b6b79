import Glibc
internal import CSodium

/// Process-wide protection for a process that holds secrets in memory: no core dump of it is ever
/// written, and other processes of the same user cannot attach to it or read its memory.
///
/// Call ``disableCoreDumps()`` once, first thing, before any secret is read; the `strongroom` CLI
/// does so at the start of `main`. An embedding service should do the same at its start.
public enum ProcessHardening {
    /// Turns off core dumps for the whole process, for good:
    ///
    /// - `setrlimit(RLIMIT_CORE, 0)`, soft and hard limit, so no core file is written on a crash and
    ///   the limit cannot be raised again without privilege (children inherit it);
    /// - `prctl(PR_SET_DUMPABLE, 0)`: no core dump even through a `core_pattern` pipe
    ///   (systemd-coredump, apport), `/proc/<pid>/mem`, `environ`, `maps` and the other per-process
    ///   files become owned by root, and `ptrace` attach by the same (unprivileged) user is refused.
    ///
    /// What it cannot do: keep out root (or anyone with `CAP_SYS_PTRACE`), who can still attach
    /// and read memory; protect environment variables from the process's own children, which
    /// inherit them; survive `execve` (the dumpable flag is reset for the new program; the core
    /// limit stays). Keeping secrets out of swap is `SecretBytes`' job (`mlock`), not this call's.
    ///
    /// Idempotent. Throws ``CryptoError`` (`.processHardeningFailed`, with the errno) when a call
    /// fails; a caller that holds secrets should then stop rather than go on unprotected.
    public static func disableCoreDumps() throws(CryptoError) {
        var limit = rlimit(rlim_cur: 0, rlim_max: 0)
        let resource = __rlimit_resource_t(RLIMIT_CORE.rawValue)
        guard setrlimit(resource, &limit) == 0 else {
            throw CryptoError(.processHardeningFailed, "setrlimit(RLIMIT_CORE, 0) failed: \(errnoText())")
        }
        guard strongroom_prctl_set_not_dumpable() == 0 else {
            throw CryptoError(.processHardeningFailed, "prctl(PR_SET_DUMPABLE, 0) failed: \(errnoText())")
        }
    }

    /// Whether core dumps are off: the core limit is 0 and the process is not dumpable.
    public static var coreDumpsDisabled: Bool {
        var limit = rlimit()
        let resource = __rlimit_resource_t(RLIMIT_CORE.rawValue)
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur == 0 else { return false }
        return strongroom_prctl_get_dumpable() == 0
    }

    private static func errnoText() -> String {
        let code = errno
        return "\(String(cString: strerror(code))) (errno \(code))"
    }
}
