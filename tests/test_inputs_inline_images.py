"""Pictures held in a table's text cells, as chat-API logs and scraped datasets export them:
`data:image/jpeg;base64,...` URIs and bare base64. They were taken for file paths ("cannot
read the image file iVBORw0KGgo...", with the whole payload in the message); now they are
decoded, and a data: URI with no picture in it is an error row that says so."""

from __future__ import annotations

import base64
import json

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.exports.results import read_results
from vlmcli.inputs.columns import image_cell
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def test_cells():
    jpeg = jpeg_bytes(sample_photos()[0])
    text = base64.b64encode(jpeg).decode()
    assert image_cell(f"data:image/jpeg;base64,{text}").data == jpeg
    assert image_cell(text).data == jpeg
    assert image_cell("\n".join(text[i : i + 76] for i in range(0, len(text), 76))).data == jpeg  # MIME line breaks
    assert image_cell("photos/" + "a" * 80 + ".jpg").path is not None  # long paths stay paths
    assert image_cell(base64.b64encode(b"plain text, not a picture" * 4).decode()).path is not None
    assert image_cell("data:image/png;base64,!!!").problem == "the image is a data: URI with no base64 picture in it"


def test_caption_dir_over_a_parquet_of_data_uris(monkeypatch, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    photos = [jpeg_bytes(p) for p in sample_photos()[:2]]
    cells = [f"data:image/jpeg;base64,{base64.b64encode(photos[0]).decode()}", base64.b64encode(photos[1]).decode(),
             "data:image/jpeg;base64,"]
    pq.write_table(pa.table({"id": ["a", "b", "c"], "image": cells}), tmp_path / "chat.parquet")
    install_fake_engine(monkeypatch)
    result = runner.invoke(app, ["caption-dir", str(tmp_path / "chat.parquet"), "-o", str(tmp_path / "out"), "-q", "--json"])
    assert result.exit_code == 9, result.output
    assert (json.loads(result.stdout)["ok"], json.loads(result.stdout)["error"]) == (2, 1)
    rows = {r["source_key"]: r for r in read_results(tmp_path / "out")}
    assert rows["c"]["error"].endswith("chat.parquet::c: the image is a data: URI with no base64 picture in it.")
    assert (rows["a"]["width"], rows["b"]["width"]) == (sample_photos()[0].width, sample_photos()[1].width)
