"""img2dataset's Parquet output keeps a row for every URL it could not fetch (`status`
failed_to_download, `error_message`, a null image): its error row now says why, instead of a
bare "no image in this row"."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.table_shard import table_items


def test_a_row_img2dataset_could_not_fetch_says_why(tmp_path):
    picture = io.BytesIO()
    Image.new("RGB", (32, 24), "red").save(picture, format="JPEG")
    shard = tmp_path / "00000.parquet"
    pq.write_table(
        pa.table({
            "key": ["000000000", "000000001", "000000002"],
            "jpg": [picture.getvalue(), None, None],
            "status": ["success", "failed_to_download", "success"],
            "error_message": [None, "HTTP Error 404: Not Found", None],
        }),
        shard,
    )
    got, missing, odd = list(table_items(shard, ColumnChoice()))
    assert got.data is not None and got.error is None
    assert missing.error == f"{shard}::000000001: no image in this row (img2dataset: failed_to_download: HTTP Error 404: Not Found)."
    assert odd.error == f"{shard}::000000002: no image in this row."  # a success without bytes: nothing to add
