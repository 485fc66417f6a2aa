"""Where `--engine ray` would run, checked in seconds before any long work.

    check_ray()                          # Ray Data installed, and RAY_ADDRESS (if any) a Ray head
    check_cluster_address("10.0.0.5:6379")

`ray.init(address=...)` has no time limit of its own (Ray's advice, issue 46863: a timer
thread). Measured on Ray 2.60: where nothing listens it retried for minutes, and where
something that is not Ray listens (a web server, a port that accepts and says nothing)
each attempt of its GCS client waits about 40 s ("Failed to connect to GCS ... within 5
seconds", then "Timed out while waiting for GCS to become available"), twenty times over,
its warnings between our progress lines. So the address is probed first, with the
standard library and a time limit: a TCP connection, then the opening of HTTP/2. A Ray
head's GCS is a gRPC server, and an HTTP/2 server answers a client's connection preface
with its SETTINGS frame at once (RFC 9113, 3.4); a web server answers in HTTP/1 (the Ray
dashboard's port, 8265, is one), a silent port not at all: both are one line, exit 2.
The probe cannot tell Ray's GCS from another gRPC server; ray.init then fails on its own.
With `RAY_USE_TLS` on, the GCS speaks TLS first: only the connection is checked.
"""

from __future__ import annotations

import os
import re
import socket
import time
from typing import Any

from vlmcli.errors import BackendUnavailableError, ConfigError

PROBE_TIMEOUT_S = 5.0
"""Seconds for each of the connection and the HTTP/2 answer (a head answers in milliseconds)."""

HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
"""The client connection preface followed by an empty SETTINGS frame (RFC 9113, 3.4)."""

_SETTINGS = 0x04
_ACK = 0x01
_FIX = (
    "fix the address (the host:port `ray start --head` printed; its GCS port is 6379 unless --port said "
    "otherwise), or unset RAY_ADDRESS to run a local Ray."
)


INSTALL_HINT = "pip install 'vlmcli[ray]'"


def import_ray() -> Any:
    """Ray with Ray Data; BackendUnavailableError (exit 7) naming the extra when it is missing."""
    try:
        import ray
        import ray.data  # noqa: F401 - the extra, not just the core
    except ImportError as exc:
        raise BackendUnavailableError(f"--engine ray needs Ray Data, which is not installed ({exc.name}); {INSTALL_HINT}.") from None
    return ray


def check_ray() -> None:
    """Ray Data installed (BackendUnavailableError, exit 7) and, unless this process joined a
    Ray already, `RAY_ADDRESS` a Ray head (ConfigError): what `--engine ray` checks before
    reading its inputs, so a wrong address fails in seconds on a folder of any size."""
    ray = import_ray()
    if not ray.is_initialized():
        check_cluster_address(os.environ.get("RAY_ADDRESS", ""))


def split_address(address: str) -> tuple[str, int] | None:
    """(host, port) of a `host:port` RAY_ADDRESS (IPv6 in brackets); None for "", "auto",
    "local", `ray://` (Ray Client) and anything else, which are left to Ray."""
    spelled = address.strip()
    match = re.fullmatch(r"(?:[a-z]+://)?\[?([^\]/]+?)\]?:(\d+)", spelled)
    if not spelled or spelled in ("auto", "local") or spelled.startswith("ray://") or match is None:
        return None
    return match[1], int(match[2])


def check_cluster_address(address: str, *, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """ConfigError (one line) unless a Ray head could answer at `address`: something must
    accept the connection within `timeout_s` and open HTTP/2 within `timeout_s` more."""
    where = split_address(address)
    if where is None:
        return
    try:
        connection = socket.create_connection(where, timeout=timeout_s)
    except OSError as exc:
        raise ConfigError(
            f"Cannot reach the Ray cluster at RAY_ADDRESS={address} ({exc.strerror or exc}); start it "
            "(ray start --head), fix the address, or unset RAY_ADDRESS to run a local Ray."
        ) from None
    with connection:
        if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
            return
        wrong = http2_refusal(connection, timeout_s=timeout_s)
    if wrong is not None:
        raise ConfigError(f"RAY_ADDRESS={address} is not a Ray head ({wrong}); {_FIX}")


def http2_refusal(connection: socket.socket, *, timeout_s: float) -> str | None:
    """None when the peer of `connection` opens HTTP/2 (its first frame a SETTINGS frame on
    stream 0) within `timeout_s`; else what it did instead, for the message."""
    deadline = time.monotonic() + timeout_s
    head = b""
    try:
        connection.settimeout(timeout_s)
        connection.sendall(HTTP2_PREFACE)
        while len(head) < 9:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout
            connection.settimeout(left)
            chunk = connection.recv(9 - len(head))
            if not chunk:
                return "it accepted the connection and closed it" if not head else "it answered, but not in HTTP/2"
            head += chunk
    except socket.timeout:
        return f"it accepted the connection but did not answer within {timeout_s:g} s"
    except OSError as exc:
        return f"the connection failed: {exc.strerror or exc}"
    kind, flags, stream = head[3], head[4], int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
    if kind == _SETTINGS and not flags & _ACK and stream == 0:
        return None
    if head.startswith((b"HTTP/", b"<")):  # a status line, or a bare error page (Python's http.server)
        return "a web server answered, as the Ray dashboard's port 8265 does"
    return "it answered, but not in HTTP/2"
