"""A Python client of `strongroom serve` (docs/server.md, "Clients").

Generate the gRPC code first (scripts/client/python/generate OUT_DIR) and put OUT_DIR and this
directory on PYTHONPATH. Then:

    import strongroom_client
    with strongroom_client.connect("unix:/run/strongroom/strongroom.sock") as vault:
        version = vault.store("engine-a.key", b"share bytes", {"party": "1"})
        share = vault.load("engine-a.key")          # bytearray; wipe it with wipe(share) when done

Over TCP the server requires mutual TLS:

    strongroom_client.connect("vault.example:8443", tls_cert="client.pem", tls_key="client.key",
                              tls_ca="ca.pem")

An engine that calls often keeps one Session stream open instead (far cheaper per request for the
server; docs/server.md, "Sessions"):

    with vault.session() as session:
        session.store("engine-a.key", b"share bytes")
        share = session.load("engine-a.key")

Every error the server sends is raised as StrongroomError with the same code name and exit status
the strongroom CLI uses (e.g. code "access denied", exit_status 77). Shares are never logged or put
into an exception. Python's bytes cannot be wiped: load() returns a bytearray copy (wipe it yourself
with wipe()); the gRPC library's own buffers are beyond our reach.
"""

import queue

import grpc

from strongroom.v1 import strongroom_pb2 as pb
from strongroom.v1 import strongroom_pb2_grpc as pb_grpc

__all__ = ["StrongroomError", "Client", "Session", "connect", "parse_address", "wipe"]

CODE_KEY = "strongroom-code"
EXIT_KEY = "strongroom-exit"


class StrongroomError(Exception):
    """An error from the server (or the connection to it).

    code: the Strongroom error code's name ("share not found", "access denied", ...), or for an error
    the server did not make (a transport failure), a name derived from the gRPC status.
    exit_status: the exit status the strongroom CLI would use for it.
    status: the grpc.StatusCode.
    message: the server's clear, secret-free sentence.
    """

    def __init__(self, code, exit_status, status, message):
        super().__init__(message)
        self.code = code
        self.exit_status = exit_status
        self.status = status
        self.message = message

    def __str__(self):
        return self.message

    def __repr__(self):
        return "StrongroomError(code=%r, exit_status=%r, status=%s)" % (self.code, self.exit_status, self.status)

    @classmethod
    def from_rpc_error(cls, error):
        status = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
        message = (error.details() if hasattr(error, "details") else None) or str(status)
        metadata = {}
        trailing = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
        for key, value in trailing or ():
            metadata[key] = value
        name = metadata.get(CODE_KEY)
        exit_text = metadata.get(EXIT_KEY)
        if name is not None and exit_text is not None and exit_text.isdigit():
            return cls(name, int(exit_text), status, message)
        fallback = {
            grpc.StatusCode.UNAVAILABLE: ("tier unavailable", 69),
            grpc.StatusCode.DEADLINE_EXCEEDED: ("tier unavailable", 69),
            grpc.StatusCode.PERMISSION_DENIED: ("access denied", 77),
            grpc.StatusCode.UNAUTHENTICATED: ("access denied", 77),
            grpc.StatusCode.INVALID_ARGUMENT: ("invalid input", 64),
            grpc.StatusCode.RESOURCE_EXHAUSTED: ("invalid input", 64),
            grpc.StatusCode.NOT_FOUND: ("share not found", 66),
        }
        name, exit_status = fallback.get(status, ("I/O error", 74))
        return cls(name, exit_status, status, "the server answered %s: %s" % (status.name, message))


def parse_address(text):
    """("unix", path) or ("tcp", host, port) for the address forms the CLI's --server takes."""
    text = text.strip()
    if text.startswith("unix://"):
        path = text[len("unix://"):]
    elif text.startswith("unix:"):
        path = text[len("unix:"):]
    elif text.startswith("/"):
        path = text
    else:
        rest = text[len("tcp://"):] if text.startswith("tcp://") else text
        host, sep, port = rest.rpartition(":")
        if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError("server address %r has no port; use unix:/path, /path, tcp://host:port or host:port" % text)
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not host:
            raise ValueError("server address %r has no host" % text)
        return ("tcp", host, int(port))
    if not path.startswith("/"):
        raise ValueError("server address %r needs an absolute socket path" % text)
    return ("unix", path)


def _read(path):
    with open(path, "rb") as handle:
        return handle.read()


def wipe(buffer):
    """Overwrites a bytearray (a loaded share) with zeros."""
    for index in range(len(buffer)):
        buffer[index] = 0


def connect(address, tls_cert=None, tls_key=None, tls_ca=None, server_hostname=None, timeout=30.0):
    """Connects to a server: a Unix socket (identity: this process's uid) or TCP with mutual TLS
    (identity: the subject of tls_cert). Returns a Client; use it in a with block or close() it."""
    parsed = parse_address(address)
    if parsed[0] == "unix":
        channel = grpc.insecure_channel("unix:" + parsed[1])
    else:
        if not (tls_cert and tls_key and tls_ca):
            raise ValueError("server address %r is TCP, which needs mutual TLS: give tls_cert, tls_key and tls_ca" % address)
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_read(tls_ca), private_key=_read(tls_key), certificate_chain=_read(tls_cert))
        options = []
        if server_hostname:
            options.append(("grpc.ssl_target_name_override", server_hostname))
        host = parsed[1]
        target = "[%s]:%d" % (host, parsed[2]) if ":" in host else "%s:%d" % (host, parsed[2])
        channel = grpc.secure_channel(target, credentials, options=options)
    return Client(channel, timeout)


class Client:
    """The Vault service's calls, with errors raised as StrongroomError."""

    def __init__(self, channel, timeout=30.0):
        self._channel = channel
        self._stub = pb_grpc.VaultStub(channel)
        self.timeout = timeout

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _unary(self, method, request):
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as error:
            raise StrongroomError.from_rpc_error(error) from None

    def _stream(self, method, request):
        try:
            for item in method(request, timeout=self.timeout):
                yield item
        except grpc.RpcError as error:
            raise StrongroomError.from_rpc_error(error) from None

    def store(self, share_id, secret, metadata=None):
        """Stores a new version of a share; returns its version number."""
        request = pb.StoreRequest(share_id=share_id, secret=bytes(secret), metadata=metadata or {})
        return self._unary(self._stub.Store, request).version

    def load(self, share_id, version=0):
        """Loads a share (the newest version when version is 0) as a bytearray."""
        response = self._unary(self._stub.Load, pb.LoadRequest(share_id=share_id, version=version))
        return bytearray(response.secret)

    def list(self, prefix=""):
        """[(share_id, latest_version, version_count)] of the shares the caller may list."""
        response = self._unary(self._stub.List, pb.ListRequest(prefix=prefix))
        return [(s.share_id, s.latest_version, s.version_count) for s in response.shares]

    def versions(self, share_id):
        """The stored versions of a share (ShareVersion messages)."""
        return list(self._unary(self._stub.Versions, pb.VersionsRequest(share_id=share_id)).versions)

    def erase(self, share_id, versions=None):
        """Erases a share (every version, or only `versions`); returns how many versions went."""
        request = pb.EraseRequest(share_id=share_id, versions=list(versions or []))
        return self._unary(self._stub.Erase, request).erased_versions

    def rotate(self, dry_run=False, concurrency=1, progress=None):
        """Rotates the wrapping key; calls progress(RotationProgress) as it goes; returns the report."""
        report = None
        for event in self._stream(self._stub.Rotate, pb.RotateRequest(dry_run=dry_run, concurrency=concurrency)):
            kind = event.WhichOneof("event")
            if kind == "progress" and progress is not None:
                progress(event.progress)
            elif kind == "report":
                report = event.report
        if report is None:
            raise StrongroomError("I/O error", 74, grpc.StatusCode.UNKNOWN, "the rotation stream ended without a report")
        return report

    def status(self):
        return self._unary(self._stub.Status, pb.StatusRequest())

    def health(self):
        return self._unary(self._stub.Health, pb.HealthRequest())

    def audit_verify(self):
        return self._unary(self._stub.AuditVerify, pb.AuditVerifyRequest())

    def audit_show(self, share_id="", op="", since=""):
        """The stored audit record lines (JSON text), oldest first."""
        request = pb.AuditShowRequest(share_id=share_id, op=op, since=since)
        return [line.line for line in self._stream(self._stub.AuditShow, request)]

    def unseal(self, part, passphrase, source=""):
        return self._unary(self._stub.Unseal, pb.UnsealRequest(part=bytes(part), passphrase=bytes(passphrase), source=source))

    def seal(self):
        return self._unary(self._stub.Seal, pb.SealRequest()).was_unsealed

    def session(self):
        """Opens a Session stream (store, load, list, versions, erase and status over one stream)."""
        return Session(self._stub)


def _queued_requests(requests):
    while True:
        request = requests.get()
        if request is None:
            return
        yield request


_STATUS_BY_NUMBER = dict((status.value[0], status) for status in grpc.StatusCode)


class Session:
    """One Session stream: each call sends its request and waits for its answer, so calls are answered
    in order. A refused or failed request raises StrongroomError (the same code, exit status and gRPC
    status the unary call would give) and the session goes on. When the server drains it ends the
    stream, and every later call raises UNAVAILABLE. Use from one thread; close() (or a with block)
    ends the stream."""

    def __init__(self, stub):
        self._queue = queue.Queue()
        self._next_id = 0
        self._closed = False
        # The request iterator holds the queue only, not the session, so that a session dropped without
        # close() is collected and its __del__ ends the stream.
        self._responses = stub.Session(_queued_requests(self._queue))

    def close(self):
        if not self._closed:
            self._closed = True
            self._queue.put(None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        # Unblocks grpcio's thread reading the request queue when a session was never closed.
        self.close()

    def _call(self, expected, **fields):
        if self._closed:
            raise StrongroomError("tier unavailable", 69, grpc.StatusCode.UNAVAILABLE, "the session is closed")
        self._next_id += 1
        self._queue.put(pb.SessionRequest(id=self._next_id, **fields))
        try:
            response = next(self._responses)
        except StopIteration:
            self._closed = True
            raise StrongroomError("tier unavailable", 69, grpc.StatusCode.UNAVAILABLE,
                                  "the server ended the session without answering") from None
        except grpc.RpcError as error:
            self._closed = True
            raise StrongroomError.from_rpc_error(error) from None
        if response.id != self._next_id:
            self.close()  # out of step: later answers would belong to other requests
            raise StrongroomError("I/O error", 74, grpc.StatusCode.INTERNAL,
                                  "the server answered request %d where %d was expected" % (response.id, self._next_id))
        kind = response.WhichOneof("response")
        if kind == "error":
            failure = response.error
            status = _STATUS_BY_NUMBER.get(failure.status, grpc.StatusCode.UNKNOWN)
            raise StrongroomError(failure.code or "I/O error", failure.exit or 74, status, failure.message)
        if kind != expected:
            raise StrongroomError("I/O error", 74, grpc.StatusCode.INTERNAL,
                                  "the server answered a %s request with %s" % (expected, kind))
        return getattr(response, kind)

    def store(self, share_id, secret, metadata=None):
        request = pb.StoreRequest(share_id=share_id, secret=bytes(secret), metadata=metadata or {})
        return self._call("store", store=request).version

    def load(self, share_id, version=0):
        return bytearray(self._call("load", load=pb.LoadRequest(share_id=share_id, version=version)).secret)

    def list(self, prefix=""):
        response = self._call("list", list=pb.ListRequest(prefix=prefix))
        return [(s.share_id, s.latest_version, s.version_count) for s in response.shares]

    def versions(self, share_id):
        return list(self._call("versions", versions=pb.VersionsRequest(share_id=share_id)).versions)

    def erase(self, share_id, versions=None):
        request = pb.EraseRequest(share_id=share_id, versions=list(versions or []))
        return self._call("erase", erase=request).erased_versions

    def status(self):
        return self._call("status", status=pb.StatusRequest())

    def health(self):
        return self._call("health", health=pb.HealthRequest())
