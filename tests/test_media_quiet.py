"""Native libraries' log lines kept off the user's stderr, the rest passed on: decord's and
libtiff's around a decode (held until it ends), and Ray's core-worker warning on every actor
pool, dropped live while a caption job prints its progress."""

from __future__ import annotations

import os
import threading

from vlmcli.captions.ray_backend import RAY_NOISE
from vlmcli.media.quiet import keep_line, native_stderr_filtered, stderr_lines_dropped

RAY_LINE = (
    b"[2026-12-07 05:42:03,967 E 17019 17019] core_worker.cc:2465: Actor with class name: "
    b"'MapWorker(MapBatches(CaptionActor))' and ID: '4ed5' has constructor arguments in the object "
    b"store and max_restarts > 0. If the arguments in the object store go out of scope or are lost, "
    b"the actor restart will fail. See https://github.com/ray-project/ray/issues/53727 for more details.\n"
)


def test_native_lines_are_dropped_and_the_rest_replayed(capfd):
    with native_stderr_filtered():
        os.write(2, b"[14:13:56] /github/workspace/src/video/video_reader.cc:83: ERROR opening: x\n")
        os.write(2, b"Captioning 3 items\n")
        os.write(2, b"ZIPDecode: Decoding error at scanline 0, incorrect data check.\n")
    assert capfd.readouterr().err == "Captioning 3 items\n"
    assert not keep_line(b"TIFFReadDirectory: Warning, unknown field") and keep_line(b"Error: x.jpg is empty")
    assert not keep_line(b"_tiffReadProc: Invalid Read at loc 4873, eof: 286.")  # Pillow's libtiff callbacks
    assert not keep_line(b"tempfile.tif: WEBP compression support is not configured.")  # libtiff on Pillow's in-memory file


def test_rays_warning_is_dropped_live_and_everything_else_passes_in_order(capfd):
    with stderr_lines_dropped(RAY_NOISE):
        os.write(2, b"Captioning 3 items\n")
        os.write(2, RAY_LINE)
        os.write(2, b"[2026-12-07 05:42:04,001 E 17019 17019] core_worker.cc:99: a real failure\n")
        writer = threading.Thread(target=os.write, args=(2, b"Captioning: 1/3 done\n"))
        writer.start()
        writer.join()
        os.write(2, b"no newline at the end")
    seen = capfd.readouterr().err.splitlines()
    assert seen == [
        "Captioning 3 items", "[2026-12-07 05:42:04,001 E 17019 17019] core_worker.cc:99: a real failure",
        "Captioning: 1/3 done", "no newline at the end",
    ]
