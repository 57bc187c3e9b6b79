"""Shared helpers of scripts/bench/server and scripts/bench/server_faults.py: the Python gRPC stubs
generated at run time from proto/strongroom/v1/strongroom.proto (grpc_tools.protoc into a temporary
directory, nothing written to the repository) and a channel to a server address as the Swift client
parses it (unix:/path, unix:///path, /path; plaintext only: these scripts talk to a local socket)."""

import atexit
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_stubs():
    """Returns (strongroom_pb2, strongroom_pb2_grpc), generated into a temporary directory."""
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="strongroom-py-")
    atexit.register(shutil.rmtree, out, True)
    proto_dir = os.path.join(ROOT, "proto")
    status = protoc.main([
        "grpc_tools.protoc", f"-I{proto_dir}", f"--python_out={out}", f"--grpc_python_out={out}",
        os.path.join(proto_dir, "strongroom", "v1", "strongroom.proto"),
    ])
    if status != 0:
        sys.exit(f"grpc_tools.protoc failed on {proto_dir} (status {status})")
    sys.path.insert(0, out)
    from strongroom.v1 import strongroom_pb2, strongroom_pb2_grpc  # noqa: E402
    return strongroom_pb2, strongroom_pb2_grpc


def target(address):
    """The grpc target for a server address: unix sockets only."""
    if address.startswith("unix://"):
        return "unix:" + address[len("unix://"):]
    if address.startswith("unix:"):
        return address
    if address.startswith("/"):
        return "unix:" + address
    sys.exit(f"server address '{address}': these scripts take a Unix socket (unix:/path or /path)")


def channel(address, max_message=64 * 1024 * 1024):
    import grpc

    return grpc.insecure_channel(target(address), options=[
        ("grpc.max_send_message_length", max_message),
        ("grpc.max_receive_message_length", max_message),
    ])
