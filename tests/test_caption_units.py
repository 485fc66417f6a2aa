"""caption-dir's pure pieces: batching, sharding, prompts/config hash, file lists, planning,
discovery and probing, and the background prefetcher."""

from __future__ import annotations

import json

import random
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlmcli.testing.fakes import save_photo
from vlmcli.captions.batching import auto_batch_size, group_batches, padding
from vlmcli.captions.decode import Decoded
from vlmcli.captions.discover import Candidate, discover, parse_file_list
from vlmcli.captions.plan import Task, build_plan
from vlmcli.captions.probe import Probe, probe
from vlmcli.captions.prompt_file import PromptSpec, read_prompt_file
from vlmcli.captions.prompts import DEFAULT_PROMPT, config_hash, make_prompts
from vlmcli.captions.shard import ShardSpec, shard_of
from vlmcli.captions.workers import Prefetcher
from vlmcli.engine.config import GenerationConfig
from vlmcli.errors import ConfigError, InputError
from vlmcli.sinks.base import ResumeState
from vlmcli.sinks.schema import RowId

# -- batching ------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 10_000), max_size=60), st.integers(1, 9))
def test_group_batches_partitions_and_sorts(costs, size):
    items = list(enumerate(costs))
    batches = group_batches(items, batch_size=size, cost=lambda i: i[1])
    flat = [i for b in batches for i in b]
    assert sorted(flat) == sorted(items)  # every item exactly once
    assert all(1 <= len(b) <= size for b in batches)
    assert len(batches) == -(-len(items) // size)
    assert [i[1] for i in flat] == sorted(costs, reverse=True)  # largest first


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 5_000), min_size=1, max_size=40), st.integers(1, 8), st.randoms())
def test_grouping_never_pads_more_than_any_other_order(costs, size, rnd):
    """With full batches, largest-first runs pad least. (With one short batch no fixed rule
    does: [2, 1, 1] pads least with the short batch last in ascending order, [2, 2, 1] in
    descending order.)"""
    costs = costs[: max(size, len(costs) - len(costs) % size)]
    if len(costs) % size:
        return  # fewer items than one batch: a single batch, nothing to compare
    cost = float
    grouped = padding(group_batches(costs, batch_size=size, cost=cost), cost=cost)
    shuffled = costs[:]
    rnd.shuffle(shuffled)
    other = padding([shuffled[i : i + size] for i in range(0, len(shuffled), size)], cost=cost)
    assert grouped <= other


def test_group_batches_keeps_ties_in_input_order_and_rejects_bad_size():
    assert group_batches(["b", "a", "c"], batch_size=2, cost=lambda _: 0) == [["b", "a"], ["c"]]
    with pytest.raises(ValueError):
        group_batches([1], batch_size=0, cost=int)
    assert auto_batch_size("cpu") == 8 and auto_batch_size("cuda") == 32 and auto_batch_size("xpu") == 8


# -- sharding ------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 7))
def test_shards_are_disjoint_and_complete(count):
    keys = [f"{random.Random(i).getrandbits(256):064x}" for i in range(200)]
    owners = [[ShardSpec(index=i, count=count).contains(key=k, path="x") for i in range(count)] for k in keys]
    assert all(sum(row) == 1 for row in owners)
    assert [o.index(True) for o in owners] == [shard_of(k, count) for k in keys]


def test_shard_spec_parsing():
    assert ShardSpec.parse("2/8") == ShardSpec(2, 8) and ShardSpec.parse(" 0 / 1 ") == ShardSpec()
    assert ShardSpec.parse(None).label == "" and ShardSpec(2, 8).label == "s2of8"
    for bad in ("8/8", "-1/3", "1", "a/b", "1/0"):
        with pytest.raises(ConfigError):
            ShardSpec.parse(bad)
    # unreadable files (no key) are split by path, still deterministically
    assert ShardSpec(0, 2).contains(key=None, path="a") != ShardSpec(1, 2).contains(key=None, path="a")


# -- prompts -------------------------------------------------------------------------


def test_config_hash_changes_with_every_setting_and_is_stable():
    base = dict(model="m", revision=None, prompt="p", system=None, generation=GenerationConfig())
    h = config_hash(**base)
    assert h == config_hash(**base) and len(h) == 16
    for change in (
        {"model": "m2"},
        {"revision": "abc"},
        {"prompt": "q"},
        {"system": "s"},
        {"generation": GenerationConfig(max_tokens=3)},
    ):
        assert config_hash(**(base | change)) != h


def test_make_prompts_default_dedup_and_prompt_file(tmp_path):
    prompts = make_prompts([], model="m", revision=None, system=None, generation=GenerationConfig())
    assert [p.text for p in prompts] == [DEFAULT_PROMPT]
    prompts = make_prompts(["a", "b", "a"], model="m", revision=None, system=None, generation=GenerationConfig())
    assert [(p.text, p.index) for p in prompts] == [("a", 0), ("b", 1)]
    assert prompts[0].config_hash != prompts[1].config_hash
    path = tmp_path / "prompts.txt"
    path.write_text("# comment\nDescribe.\n\n  List objects.  \n")
    assert read_prompt_file(path) == [PromptSpec("Describe."), PromptSpec("List objects.")]
    path.write_text("# only a comment\n")
    with pytest.raises(ConfigError):
        read_prompt_file(path)
    with pytest.raises(InputError):
        read_prompt_file(tmp_path / "missing.txt")


# -- file lists and discovery --------------------------------------------------------


def test_parse_file_list_newlines_crlf_and_nul():
    assert parse_file_list(b"a.jpg\nb c.jpg\r\n\n") == ["a.jpg", "b c.jpg"]
    assert parse_file_list(b"a\nb.jpg\0c.jpg\0") == ["a\nb.jpg", "c.jpg"]  # NUL wins: newlines are part of names
    assert parse_file_list(b"") == []
    assert parse_file_list(b"\xef\xbb\xbfa.jpg\r\nb.jpg\r\n") == ["a.jpg", "b.jpg"]  # Notepad's UTF-8 with BOM
    assert parse_file_list("a.jpg\r\ncaf\u00e9.jpg\r\n".encode("utf-16")) == ["a.jpg", "caf\u00e9.jpg"]  # PowerShell 5


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "in"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    save_photo(root / "a.jpg")
    save_photo(root / "sub" / "b.png", "chelsea")
    save_photo(root / "sub" / "deeper" / "no_extension", "coffee", format="PNG")
    (root / "sub" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (root / "notes.txt").write_text("not an image")
    (root / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 64)
    save_photo(root / ".hidden" / "h.jpg")
    save_photo(root / ".dot.jpg")
    return root


def test_discover_walks_and_probe_keeps_images_by_content(tree, tmp_path):
    out = tree / "out"
    out.mkdir()
    save_photo(out / "inside_output.jpg")
    candidates = discover(inputs=[str(tree)], exclude=out)
    names = sorted(c.path.rsplit("/", 1)[-1] for c in candidates)
    assert names == ["a.jpg", "b.png", "clip.mp4", "corrupt.jpg", "no_extension", "notes.txt"]
    kept = {p.path.rsplit("/", 1)[-1]: p for c in candidates if (p := probe(c)) is not None}
    assert sorted(kept) == ["a.jpg", "b.png", "corrupt.jpg", "no_extension"]  # by magic or image extension
    assert kept["no_extension"].size == (600, 400) and len(kept["a.jpg"].key) == 64
    assert kept["corrupt.jpg"].key is not None and kept["corrupt.jpg"].error is None  # decoding will tell


def test_explicit_files_always_get_a_row(tree):
    text = probe(Candidate(str(tree / "notes.txt"), explicit=True))
    assert text is not None and text.error is None  # decoding makes it an error row
    video = probe(Candidate(str(tree / "clip.mp4"), explicit=True))
    assert "video" in video.error
    missing = probe(Candidate(str(tree / "gone.jpg"), explicit=True))
    assert missing.key is None and "No such file" in missing.error


def test_discover_glob_files_from_and_dedup(tree, tmp_path, monkeypatch):
    monkeypatch.chdir(tree)
    listing = tmp_path / "list.txt"
    listing.write_text("a.jpg\nsub/../a.jpg\nmissing.jpg\n")
    found = discover(globs=["**/*.png", "*.jpg"], files_from=str(listing))
    expected = [("sub/b.png", False), ("a.jpg", True), ("missing.jpg", True)]
    assert [(c.path, c.explicit) for c in found] == [(str(tree / p), e) for p, e in expected]  # resolved paths
    with pytest.raises(InputError, match="No such file or folder"):
        discover(inputs=["nope"])
    with pytest.raises(InputError, match="files-from"):
        discover(inputs=["-"])


# -- planning ------------------------------------------------------------------------


def _prompts(*texts):
    return make_prompts(list(texts), model="m", revision=None, system=None, generation=GenerationConfig())


def test_plan_dedups_skips_copies_retries_and_blocks():
    p1, p2 = _prompts("one", "two")
    probes = [
        Probe("a.jpg", "k1", (10, 10)),
        Probe("copy_of_a.jpg", "k1", (10, 10)),
        Probe("b.jpg", "k2", (20, 20)),
        Probe("moved_b.jpg", "k2", (20, 20)),
        Probe("c.jpg", "k3", (5, 5)),
        Probe("gone.jpg", None, None, "No such file: gone.jpg"),
        Probe("blocked.jpg", "k4", (1, 1)),
    ]
    done_b = {"key": "k2", "path": "b.jpg", "config_hash": p1.config_hash, "caption": "old"}
    resume = ResumeState(
        done={RowId("b.jpg", "k2", p1.config_hash)},
        reusable={("k2", p1.config_hash): done_b},
        failed={("c.jpg", p1.config_hash): True, ("c.jpg", p2.config_hash): False},
    )
    plan = build_plan(probes, [p1, p2], shard=ShardSpec(), resume=resume, blocked={"blocked.jpg": "no room"})
    tasks = {(t.path, t.prompt.text): t.followers for t in plan.tasks}
    assert tasks == {
        ("a.jpg", "one"): ("copy_of_a.jpg",),
        ("a.jpg", "two"): ("copy_of_a.jpg",),
        ("b.jpg", "two"): ("moved_b.jpg",),
        ("c.jpg", "one"): (),
    }
    assert plan.skipped == 1 and plan.kept_failed == 1
    assert [(c["path"], c["caption"]) for c in plan.copies] == [("moved_b.jpg", "old")]
    assert plan.retire == {("c.jpg", p1.config_hash)}
    assert sorted((f.path, f.message) for f in plan.failures) == [
        ("blocked.jpg", "no room"),
        ("blocked.jpg", "no room"),
        ("gone.jpg", "No such file: gone.jpg"),
        ("gone.jpg", "No such file: gone.jpg"),
    ]
    assert plan.rows_to_write == 7 + 1 + 4


def test_plan_respects_shards_and_task_round_trip():
    (prompt,) = _prompts("p")
    probes = [Probe(f"{i}.jpg", f"{i:064x}", (i + 1, 1)) for i in range(40)]
    plans = [build_plan(probes, [prompt], shard=ShardSpec(i, 3), resume=ResumeState()) for i in range(3)]
    paths = [t.path for plan in plans for t in plan.tasks]
    assert sorted(paths) == sorted(p.path for p in probes)
    assert [p.out_of_shard for p in plans] == [40 - len(p.tasks) for p in plans]
    task = Task("a.jpg", "k", (3, 4), prompt, ("b.jpg",))
    assert Task.from_dict(task.to_dict()) == task
    # a variable-frame-rate clip's frame times go to Ray actors as JSON (an ndarray failed to)
    from vlmcli.video.metadata import VideoInfo

    info = VideoInfo("c.mp4", fps=25.0, frame_count=3, duration_s=0.2, width=8, height=6, frame_times=[0.0, 0.04, 0.1])
    clip = Task("c.mp4", "k", (8, 6), prompt, video=info)
    again = Task.from_dict(json.loads(json.dumps(clip.to_dict())))
    assert again == clip and again.video.frame_times.tolist() == [0.0, 0.04, 0.1]


# -- prefetcher ----------------------------------------------------------------------


def test_prefetcher_decodes_ahead_in_order_and_is_bounded():
    started: list[str] = []
    gate = threading.Event()

    def slow_decode(path: str) -> Decoded:
        started.append(path)
        gate.wait(2)
        return Decoded(None, f"decoded {path}")

    batches = [[f"{b}-{i}" for i in range(2)] for b in range(10)]
    with Prefetcher(batches, slow_decode, path_of=str, threads=2, depth=1) as ready:
        time.sleep(0.3)
        assert len(started) <= 2 * 2  # decode workers are busy, the bounded queue holds the rest back
        gate.set()
        got = [(list(batch), sorted(d.error for d in decoded.values())) for batch, decoded in ready]
    assert [b for b, _ in got] == batches
    assert got[0][1] == ["decoded 0-0", "decoded 0-1"]


def test_prefetcher_close_mid_way_does_not_hang():
    batches = [[str(i)] for i in range(100)]
    start = time.monotonic()
    with Prefetcher(batches, lambda p: Decoded(None, p), path_of=str, threads=2, depth=2) as ready:
        for batch, _ in ready:
            if batch == ["3"]:
                break
    assert time.monotonic() - start < 3


# -- batch runner --------------------------------------------------------------------


class _Engine:
    """Answers with the image's source; fails on demand."""

    def __init__(self, fail):
        self.fail = fail
        self.calls = []

    def generate(self, requests, gen):
        from vlmcli.engine.events import FinishReason, GenerationResult, ImageUsage

        self.calls.append(len(requests))
        for r in requests:
            if (exc := self.fail(r.images[0].source)) is not None:
                raise exc
        return [
            GenerationResult(
                text=f"saw {r.images[0].source}", token_ids=[1], finish_reason=FinishReason.STOP, prompt_tokens=9,
                visual_tokens=4, completion_tokens=1, images=[ImageUsage(r.images[0].source, 2, 2, (2, 2), 4)],
            )
            for r in requests
        ]


def _batch(names):
    from PIL import Image

    from vlmcli.media.image_input import ImageInput

    (prompt,) = _prompts("p")
    tasks = [Task(n, f"key-{n}", (2, 2), prompt, (f"{n}-copy",) if n == "a" else ()) for n in names]
    decoded = {n: Decoded(ImageInput(Image.new("RGB", (2, 2)), source=n, key=f"key-{n}")) for n in names}
    decoded["bad"] = Decoded(None, "bad is damaged")
    return tasks, decoded


def test_runner_retries_a_failed_batch_one_by_one():
    from vlmcli.captions.rows import RowContext
    from vlmcli.captions.runner import BatchRunner
    from vlmcli.errors import ContextLengthError

    engine = _Engine(lambda s: ContextLengthError("too long") if s == "c" else None)
    runner = BatchRunner(engine, GenerationConfig(max_tokens=2), RowContext("m", None))
    tasks, decoded = _batch(["a", "b", "c", "bad"])
    rows = {r["path"]: r for r in runner.run(tasks, decoded)}
    assert {p: (r["status"], r["caption"] or r["error"]) for p, r in rows.items()} == {
        "a": ("ok", "saw a"), "a-copy": ("ok", "saw a"), "b": ("ok", "saw b"), "c": ("error", "too long"),
        "bad": ("error", "bad is damaged"),
    }
    assert engine.calls == [3, 1, 1, 1]


def test_runner_stops_on_a_systematic_unexpected_failure():
    from vlmcli.captions.rows import RowContext
    from vlmcli.captions.runner import GIVE_UP_AFTER, BatchRunner

    runner = BatchRunner(_Engine(lambda s: AttributeError("no such thing")), GenerationConfig(), RowContext("m", None))
    names = [f"i{n}" for n in range(GIVE_UP_AFTER)]
    tasks, decoded = _batch(names)
    with pytest.raises(AttributeError):
        runner.run(tasks, decoded)
    # one odd image among working ones stays an error row
    runner = BatchRunner(_Engine(lambda s: ValueError("odd") if s == "i3" else None), GenerationConfig(), RowContext("m", None))
    rows = runner.run(tasks, decoded)
    assert [r["path"] for r in rows if r["status"] == "error"] == ["i3"] and rows[3]["error"] == "unexpected ValueError: odd"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "cp1252"])
def test_prompt_and_schema_files_in_windows_encodings(tmp_path, encoding):
    """Notepad's old "Unicode" (UTF-16) and the Windows code page: a French prompt file was
    "Cannot read prompt file ... invalid start byte" (or 'can't decode byte 0xe9')."""
    from vlmcli.captions.prompt_file import read_prompt_file
    from vlmcli.structured.flags import read_schema

    (tmp_path / "prompts.txt").write_text("# légendes\nDécris la scène.\nQuelle heure est-il ?\n", encoding=encoding)
    assert [p.text for p in read_prompt_file(tmp_path / "prompts.txt")] == ["Décris la scène.", "Quelle heure est-il ?"]
    (tmp_path / "schema.json").write_text('{"type": "object", "description": "légende"}', encoding=encoding)
    assert "légende" in read_schema(str(tmp_path / "schema.json")).schema_text
