"""README's and docs/exit-codes.md's exit codes say what the code does.

- Exit 7 (`BackendUnavailableError`): both lists name every package the code raises it for
  (they disagreed, and neither named pypdfium2, timm, transformers' range or torchvision).
  A new raise site fails `test_every_exit_7_site_is_known` until it is added here and to both.
- The one exception to "one `Error:` line": a model command given no argument prints its help.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app

ROOT = Path(__file__).resolve().parents[1]

EXIT_7 = {  # file raising BackendUnavailableError -> what the exit-7 lists must name for it
    "vlmcli/commands/_runtime.py": ("torch", "transformers", "accelerate", "safetensors", "tokenizers", "huggingface_hub"),
    "vlmcli/engine/versions.py": ("transformers outside the supported range",),
    "vlmcli/engine/loader.py": ("torchvision", "quantized checkpoint"),
    "vlmcli/engine/quantized.py": ("bitsandbytes", "GPTQ", "AWQ", "compressed-tensors"),
    "vlmcli/quantize/int8_linear.py": ("--quantize int8",),
    "vlmcli/engine/adapters/fast_vlm.py": ("timm", "vlmcli[fastvlm]", "FastVLM"),
    "vlmcli/media/pdf_pages.py": ("pypdfium2", "vlmcli[pdf]"),
    "vlmcli/captions/ray_address.py": ("ray", "vlmcli[ray]"),
    "vlmcli/structured/backend.py": ("xgrammar", "vlmcli[structured]"),
    "vlmcli/video/pyav_container.py": ("`av`",),
    "vlmcli/video/decode_decord.py": ("`decord`",),
    "vlmcli/video/backends.py": ("`av`", "`decord`"),
}


def _row_7(text: str) -> str:
    (row,) = [line for line in text.splitlines() if line.startswith("| 7 |")]
    return row


def test_every_exit_7_site_is_known():
    raising = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "vlmcli").rglob("*.py")
        if re.search(r"raise BackendUnavailableError\(", path.read_text(encoding="utf-8"))
    )
    assert raising == sorted(EXIT_7)


@pytest.mark.parametrize("doc", ["README.md", "docs/exit-codes.md"])
def test_the_exit_7_lists_name_every_case(doc):
    row = _row_7((ROOT / doc).read_text(encoding="utf-8"))
    assert sorted({name for names in EXIT_7.values() for name in names if name not in row}) == []


def test_the_two_exit_7_lists_agree():
    readme = _row_7((ROOT / "README.md").read_text(encoding="utf-8")).split("|")[3]
    docs = _row_7((ROOT / "docs" / "exit-codes.md").read_text(encoding="utf-8")).split("|")[4]
    assert readme == docs


@pytest.mark.parametrize("command", ["ask", "describe", "caption-dir", "video-summarize"])
def test_a_bare_model_command_prints_its_help_as_the_docs_say(command):
    result = CliRunner().invoke(app, [command])
    assert result.exit_code == 2 and result.stderr.startswith(f"Usage: vlm {command}") and result.stdout == ""
    intro = (ROOT / "docs" / "exit-codes.md").read_text(encoding="utf-8").split("| Code |", 1)[0]
    assert f"`vlm {command}`" in intro and "help" in intro
