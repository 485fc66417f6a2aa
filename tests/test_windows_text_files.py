"""Text files written on Windows: a byte-order mark and CRLF line ends.

Notepad and Excel save UTF-8 with a BOM, and Windows PowerShell 5's `>` writes UTF-16. The
BOM used to become part of the first path of a `--files-from` list ("No such file:
\\ufeffa.jpg"), of the first prompt of a prompt file (a JSON entry on line 1 was then read
as plain text), made a `--schema` file "not JSON" and a config file "not valid TOML"."""

from __future__ import annotations

from vlmcli.captions.discover import read_file_list
from vlmcli.captions.prompt_file import read_prompt_file
from vlmcli.settings import resolve
from vlmcli.structured.flags import read_schema
from vlmcli.testing.fakes import isolate_env

BOM = "\ufeff"


def test_file_lists(tmp_path):
    (tmp_path / "notepad.txt").write_text(f"{BOM}a.jpg\r\nb c.jpg\r\n", encoding="utf-8", newline="")
    (tmp_path / "powershell.txt").write_text("a.jpg\r\ncaf\u00e9.jpg\r\n", encoding="utf-16", newline="")
    assert read_file_list(str(tmp_path / "notepad.txt")) == ["a.jpg", "b c.jpg"]
    assert read_file_list(str(tmp_path / "powershell.txt")) == ["a.jpg", "caf\u00e9.jpg"]


def test_prompt_file(tmp_path):
    text = f'{BOM}{{"prompt": "Indoor or outdoor?", "choice": ["indoor", "outdoor"]}}\r\nDescribe it.\r\n'
    (tmp_path / "prompts.txt").write_text(text, encoding="utf-8", newline="")
    first, second = read_prompt_file(tmp_path / "prompts.txt")
    assert first.text == "Indoor or outdoor?" and first.constraint is not None
    assert second.text == "Describe it." and second.constraint is None


def test_schema_file(tmp_path):
    (tmp_path / "tags.json").write_text(f'{BOM}{{"type": "object", "properties": {{"n": {{"type": "integer"}}}}}}\r\n',
                                        encoding="utf-8", newline="")
    assert read_schema(str(tmp_path / "tags.json")).schema["type"] == "object"


def test_config_file(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    (tmp_path / "config.toml").write_text(f'{BOM}model = "file/model"\r\nmax_tokens = 7\r\n', encoding="utf-8", newline="")
    monkeypatch.setenv("VLM_CONFIG", str(tmp_path / "config.toml"))
    settings = resolve({})
    assert (settings.model, settings.max_tokens) == ("file/model", 7)


def test_paths_written_on_windows(monkeypatch, tmp_path):
    """A CSV, JSON or `--files-from` list made on Windows names `images\\sub\\0001.jpg`
    (os.path.join there): "cannot read the image file" / "No such file" here. A drive path
    (C:\\...) names no file on this machine and says so."""
    import json

    from vlmcli.exports.results import read_results
    from vlmcli.inputs.windows_paths import local_spelling
    from vlmcli.testing.fakes import caption_dir, install_fake_engine, save_photo

    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)
    (tmp_path / "images" / "sub").mkdir(parents=True)
    save_photo(tmp_path / "images" / "sub" / "0001.jpg")
    (tmp_path / "list.csv").write_text("file_name,label\r\nimages\\sub\\0001.jpg,a\r\nC:\\Users\\me\\0002.jpg,b\r\n", newline="")
    summary = caption_dir(tmp_path / "list.csv", "-o", tmp_path / "csv", code=9)
    assert (summary["ok"], summary["error"]) == (1, 1)
    bad = next(r for r in read_results(tmp_path / "csv") if r["status"] == "error")
    assert "C:\\Users\\me\\0002.jpg is a Windows path, which names no file here" in bad["error"]

    (tmp_path / "llava.json").write_text(json.dumps([{"id": "a", "image": "images\\sub\\0001.jpg"}]))
    assert caption_dir(tmp_path / "llava.json", "-o", tmp_path / "json")["ok"] == 1

    (tmp_path / "files.txt").write_text("images\\sub\\0001.jpg\r\n", newline="")
    monkeypatch.chdir(tmp_path)
    assert caption_dir("--files-from", "files.txt", "-o", tmp_path / "list")["ok"] == 1

    odd = tmp_path / "a\\b.jpg"  # a Linux name may hold a backslash: it stays that file
    save_photo(odd)
    assert local_spelling("a\\b.jpg", tmp_path) == "a\\b.jpg" and local_spelling("images\\sub\\0001.jpg", tmp_path) == "images/sub/0001.jpg"
