#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// `server.socketGroup`: engines running as other users reach the Unix socket through one group, and
/// each is still known by its own uid (through the real binary, clients run with setpriv).
@Suite struct ServerSocketGroupTests {
    static let group: UInt32 = 4243

    /// Asks Health, then Status (which the policy grants to nobody but the test's own uid), as `uid`
    /// with gid `gid`; prints `health ok` or `health <code>`, then the Status refusal's code and details.
    static let script = """
        import grpc, sys
        channel = grpc.insecure_channel('unix:' + sys.argv[1])
        for method in ['Health', 'Status']:
            call = channel.unary_unary('/strongroom.v1.Vault/' + method)
            try:
                call(b'', timeout=20)
                print(method, 'ok')
            except grpc.RpcError as error:
                print(method, error.code().name, error.details())
        """

    @Test func aGroupMemberConnectsAndIsKnownByItsOwnUidWhileOthersCannotConnect() throws {
        try #require(geteuid() == 0, "the test runs clients as other uids with setpriv, which needs root")
        let python = try PythonForOtherUsers.make()
        defer { python.cleanup() }
        let workspace = try ServerProcess.Workspace()
        chmod(workspace.directory, 0o711)  // other uids may pass through to run/, not list the workspace
        try workspace.write("strongroom.yaml", workspace.localConfig)
        let created = try workspace.run(["init", "--config", workspace.configPath])
        try #require(created.status == 0, "\(created.stderr)")
        let server = try ServerProcess.start(
            in: workspace, config: workspace.localConfig, policy: ServerProcess.allowAll(),
            serverSettings: "  socketGroup: \(Self.group)\n", removeWorkspace: true)
        defer { server.stop() }

        var socketInfo = stat(), directoryInfo = stat()
        try #require(lstat(workspace.socket, &socketInfo) == 0)
        try #require(lstat("\(workspace.directory)/run", &directoryInfo) == 0)
        #expect(socketInfo.st_mode & 0o777 == 0o660)
        #expect(socketInfo.st_gid == Self.group)
        #expect(directoryInfo.st_mode & 0o777 == 0o710)
        #expect(directoryInfo.st_gid == Self.group)

        let member = try python.run(script: Self.script, arguments: [workspace.socket], uid: 4242, gid: Self.group)
        #expect(member.stdout.contains("Health ok"), "\(member.stdout) \(member.stderr)")
        #expect(member.stdout.contains("Status PERMISSION_DENIED"), "\(member.stdout)")
        #expect(member.stdout.contains("uid:4242"), "the refusal names the caller's own uid: \(member.stdout)")

        let outsider = try python.run(script: Self.script, arguments: [workspace.socket], uid: 4244, gid: 4244)
        #expect(outsider.stdout.contains("Health UNAVAILABLE"), "not in the group, it cannot reach the socket: \(outsider.stdout) \(outsider.stderr)")
        #expect(!outsider.stdout.contains("Health ok"))
    }

    @Test func aDirectoryOpenToOthersIsRefusedEvenWithASocketGroup() throws {
        let workspace = try ServerProcess.Workspace()
        defer { workspace.cleanup() }
        try workspace.write("strongroom.yaml", workspace.localConfig)
        let created = try workspace.run(["init", "--config", workspace.configPath])
        try #require(created.status == 0, "\(created.stderr)")
        try FileManager.default.createDirectory(atPath: "\(workspace.directory)/run", withIntermediateDirectories: false)
        chown("\(workspace.directory)/run", uid_t.max, gid_t(Self.group))
        chmod("\(workspace.directory)/run", 0o715)
        try workspace.write("policy.yaml", ServerProcess.allowAll())
        try workspace.write(
            "strongroom.yaml",
            workspace.localConfig + "server:\n  socket: \(workspace.socket)\n  policy: \(workspace.policyPath)\n  socketGroup: \(Self.group)\n")
        let result = try workspace.run(["serve", "--config", workspace.configPath])
        #expect(result.status == 77, "\(result.stderr)")
        #expect(result.stderr.contains("must be in that group with mode 0710 or 0750"), "\(result.stderr)")
    }
}
