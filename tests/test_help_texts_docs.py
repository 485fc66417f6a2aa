"""Small docs truths: the install text, batch defaults, the families table, the `Done:` line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CAPTION_DIR = (ROOT / "docs" / "caption-dir.md").read_text(encoding="utf-8")
CPU_INDEX = "--index-url https://download.pytorch.org/whl/cpu"


def _ci_commands() -> list[str]:
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    return [line.removeprefix("python -m ").replace(" -q", "") for line in lines if line.startswith("python -m p")]


def test_readme_runs_what_ci_runs():
    """The fresh-machine commands are CI's (.ci/run): the text around them may change, they may not."""
    commands = [c for c in _ci_commands() if not c.startswith("pip install --upgrade")]
    assert commands == [
        "pip install torch==2.14.1 torchvision==0.29.1",
        'pip install -e ".[test,ray]"',
        "pytest -p no:cacheprovider -n auto --dist worksteal",
    ]
    test_line = next(line for line in README.splitlines() if "--dist worksteal" in line)
    assert "pip install torch==2.14.1 torchvision==0.29.1 && pip install -e \".[test,ray]\"" in test_line


def test_the_install_text_says_what_pypi_gives_and_where_the_cpu_build_is():
    """README said installing torch first avoids the multi-GB download; from PyPI on Linux x86_64
    that very command gets the CUDA build."""
    install = README.split("torch is installed first on purpose", 1)[1].split("## Running fully offline")[0]
    assert "CUDA build" in install and "Linux x86_64" in install
    assert f"pip install torch==2.14.1 torchvision==0.29.1 {CPU_INDEX}" in install


def test_every_torchvision_pin_in_the_readme_is_the_pair_of_the_pinned_torch():
    from vlmcli.engine.versions import matching_torchvision

    assert set(re.findall(r"torchvision==([\d.]+)", README)) == {matching_torchvision("2.14.1")}
    comment = (ROOT / "pyproject.toml").read_text(encoding="utf-8").split("dependencies = [", 1)[1].split('"torch', 1)[0]
    assert f"torch==2.14.1 torchvision==0.29.1 {CPU_INDEX}" in comment


def test_batch_defaults_in_the_docs_name_every_device():
    from vlmcli.captions.batching import AUTO_BATCH_SIZE, AUTO_MAX_BATCH_TOKENS

    tokens = ", ".join(f"{n} on {d.upper() if d != 'cuda' else 'CUDA'}" for d, n in
                       sorted(AUTO_MAX_BATCH_TOKENS.items(), key=lambda item: item[1]))
    assert f"(default {tokens}" in README.replace("\n", " ")
    assert f"(default {tokens}" in CAPTION_DIR.replace("\n", " ")
    assert AUTO_BATCH_SIZE["mps"] == AUTO_BATCH_SIZE["cpu"] == 8 and AUTO_BATCH_SIZE["cuda"] == 32
    assert "(default 8 on CPU and MPS, 32 on CUDA)" in CAPTION_DIR.replace("\n", " ")
    assert "8 on a CPU or MPS, 32 on CUDA" in README.replace("\n", " ")


def test_the_families_table_is_replaced_markers_and_all():
    """`--markdown` prints the marker lines too: pasting it between them doubled them."""
    table = subprocess.run([sys.executable, "-m", "vlmcli.families", "--markdown"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.strip().splitlines()
    assert table[0].startswith("<!-- families:start") and table[-1] == "<!-- families:end -->"
    guide = (ROOT / "docs" / "adding-a-family.md").read_text(encoding="utf-8").replace("\n", " ")
    assert "replace README's whole marked block (markers included)" in guide


def test_the_done_line_with_nothing_skipped_reads_as_documented():
    from vlmcli.captions.summary import Summary

    line = Summary(ok=3).text().splitlines()[0]
    assert "0 skipped in" in line and "as already done" not in line and "copied" not in line
    assert "`0 skipped`" in CAPTION_DIR
