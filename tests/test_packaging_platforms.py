"""`pip install vlmcli` resolves on the platforms people run it on, laptops included.

decord publishes wheels only for Linux x86_64 and Windows (no sdist), so an unconditional
`decord` requirement made the install fail on every Apple silicon Mac, ARM Linux box and
Intel Mac ("No matching distribution found for decord"). It is required only where a wheel
exists; elsewhere PyAV reads every video (tests/test_video_codecs.py, without decord).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _requirements() -> dict[str, Requirement]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {r.name: r for r in map(Requirement, deps)}


@pytest.mark.parametrize(
    "sys_platform, machine, wants_decord",
    [
        ("linux", "x86_64", True),
        ("win32", "AMD64", True),
        ("darwin", "arm64", False),  # Apple silicon
        ("darwin", "x86_64", False),  # Intel mac: decord 0.6 has no macOS wheel either
        ("linux", "aarch64", False),  # Graviton, Jetson, Raspberry Pi
    ],
)
def test_decord_only_where_it_has_wheels(sys_platform, machine, wants_decord):
    env = {"sys_platform": sys_platform, "platform_machine": machine}
    requirements = _requirements()
    assert requirements["decord"].marker is not None
    assert requirements["decord"].marker.evaluate(env) is wants_decord
    assert requirements["av"].marker is None or requirements["av"].marker.evaluate(env)  # PyAV everywhere
