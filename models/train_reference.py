"""Train the reference model (a tiny Qwen3-VL) from scratch on the synthetic world, on CPU.

    python models/train_reference.py                       # the committed models/reference
    python models/train_reference.py --steps 200 --out /tmp/ref-smoke   # a quick smoke run

Every step draws fresh training examples (the world is infinite, so nothing repeats),
runs them through the real processor and chat template, and takes the loss on the answer
tokens only, plus an auxiliary classifier on the pooled visual tokens (`world/aux.py`,
dropped on save). Tasks enter by a short curriculum (colour questions first). Clips get 8
or 16 frames chosen by `frames.training_indices` (always showing the event the answer
depends on), through the processor's video path. The held-out probe
printed during training is teacher-forced exact match, which equals greedy-decoding exact
match; `bench/eval_reference.py` then measures the saved folder through vlmcli's Engine.

Writes a `save_pretrained` folder plus `training.json` (command, seed, steps, time, loss).
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.world.aux import AuxHead  # noqa: E402
from models.world.batches import answer_hits, collate, encode  # noqa: E402
from models.world.frames import training_indices  # noqa: E402
from models.world.model import ReferenceSize, build, save  # noqa: E402
from models.world.tasks import TASK_NAMES, Split, example_rng, make_example  # noqa: E402
from vlmcli.testing.qwen import MERGE  # noqa: E402

TASK_WEIGHTS = {  # harder tasks are drawn more often; every task is drawn
    "color": 1.0, "size": 1.0, "side": 1.0, "left": 1.0, "count": 2.0, "word": 2.0, "detail": 2.0,
    "appear": 1.0, "flash": 1.0, "order": 1.0,
}
CURRICULUM = (  # (first step, tasks added then). Colour questions first: a whole-frame flash
    (0, ("flash", "color")),  # is the strongest visual signal and opens the path from the
    (100, ("size", "side", "left", "order", "appear", "detail", "count", "word")),  # vision tower to
)  # the answer (without it, every task sat at its answer prior for 400+ steps)
FRAME_COUNTS = (8, 16)  # frames per training clip ...
FRAME_COUNT_P = (0.7, 0.3)  # ... and how often each


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("models/reference"))
    p.add_argument("--seed", type=int, default=0, help="weights init and training data stream")
    p.add_argument("--steps", type=int, default=1500, help="planned steps (the LR schedule); --max-minutes may stop sooner")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--buckets", type=int, default=3, help="length buckets per step (less padding)")
    p.add_argument("--workers", type=int, default=1, help="data processes (0: prepare batches inline)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core box)")
    p.add_argument("--max-minutes", type=float, default=30.0, help="stop early (and save) past this wall time")
    p.add_argument("--probe-every", type=int, default=100)
    p.add_argument("--probe-per-task", type=int, default=16)
    p.add_argument("--aux-weight", type=float, default=1.0, help="auxiliary vision classifier (models/world/aux.py); 0: off")
    p.add_argument("--init", type=Path, default=None, help="start from this saved reference model's weights (fine-tune)")
    p.add_argument(
        "--stream-start", type=int, default=0,
        help="first step of the training data stream (after --init: continue past the examples it saw)",
    )
    p.add_argument("--tasks", default=",".join(TASK_NAMES), help="comma-separated subset (for experiments)")
    for field, value in vars(ReferenceSize()).items():
        p.add_argument(f"--{field.replace('_', '-')}", type=int, default=value)
    return p.parse_args(argv)


def lr_at(step: int, *, total: int, peak: float, warmup: int) -> float:
    """Linear warmup, then cosine decay to 10% of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def active_tasks(tasks: list[str], *, step: int) -> list[str]:
    """The tasks of `tasks` the curriculum has introduced by `step` (all of them if none has)."""
    introduced = {t for first, names in CURRICULUM if step >= first for t in names}
    unknown = {t for t in tasks if not any(t in names for _, names in CURRICULUM)}
    active = [t for t in tasks if t in introduced or t in unknown]
    return active or list(tasks)


def draw_batch(processor, *, seed: int, step: int, batch: int, tasks: list[str], split: Split = Split.TRAIN):
    """Encoded examples of one step: tasks by weight, example index unique per (step, row)."""
    rng = np.random.default_rng([seed, 7, step])
    tasks = active_tasks(tasks, step=step)
    weights = np.array([TASK_WEIGHTS[t] for t in tasks])
    chosen = rng.choice(len(tasks), size=batch, p=weights / weights.sum())
    items = []
    for row, t in enumerate(chosen):
        task = tasks[int(t)]
        index = step * batch + row
        items.append(encode_one(processor, task=task, index=index, split=split, seed=seed, rng=rng))
    return items


def encode_one(processor, *, task: str, index: int, split: Split, seed: int, rng: np.random.Generator):
    example = make_example(task=task, index=index, split=split, seed=seed)
    indices = None
    if example.is_video:
        n = int(rng.choice(FRAME_COUNTS, p=FRAME_COUNT_P))
        indices = training_indices(rng, frame_count=example.frames.shape[0], n=n, example=example)
    return encode(processor, example, frame_indices=indices)


def _worker(queue, *, seed: int, steps: range, batch: int, tasks: list[str]) -> None:
    import torch

    from models.world.model import world_processor, world_tokenizer

    torch.set_num_threads(1)
    processor = world_processor(world_tokenizer())
    for step in steps:
        # plain pickle bytes: torch's shared-memory tensor passing needs a socket under /tmp,
        # which a busy shared machine's test clean-ups can delete mid-run
        queue.put(pickle.dumps((step, draw_batch(processor, seed=seed, step=step, batch=batch, tasks=tasks))))


def prefetched(*, seed: int, steps: int, batch: int, tasks: list[str], workers: int, first: int = 0):
    """Batches of stream steps first, first + 1, ... in order, made by `workers` processes a few
    steps ahead (the i-th by worker i % workers), so data preparation overlaps the training step.
    Batches depend only on (seed, step): the same run with any worker count."""
    import multiprocessing as mp

    stream = range(first, first + steps)
    if workers < 1:
        from models.world.model import world_processor, world_tokenizer

        processor = world_processor(world_tokenizer())
        for step in stream:
            yield draw_batch(processor, seed=seed, step=step, batch=batch, tasks=tasks)
        return
    ctx = mp.get_context("fork")
    queues = [ctx.Queue(maxsize=2) for _ in range(workers)]
    procs = [
        ctx.Process(target=_worker, args=(q,), kwargs={"seed": seed, "steps": stream[w::workers], "batch": batch, "tasks": tasks}, daemon=True)
        for w, q in enumerate(queues)
    ]
    for proc in procs:
        proc.start()
    try:
        for i, step in enumerate(stream):
            got, items = pickle.loads(_get(queues[i % workers], procs[i % workers]))
            assert got == step
            yield items
    finally:
        for proc in procs:
            proc.terminate()


def _get(queue, proc) -> bytes:
    """The next item of a worker's queue; RuntimeError if the worker died instead."""
    import queue as queues

    while True:
        try:
            return queue.get(timeout=5)
        except queues.Empty:
            if not proc.is_alive():
                raise RuntimeError(f"data worker exited with code {proc.exitcode}; see its traceback above") from None


def accumulate(model, items, *, pad_id: int, buckets: int, aux: AuxHead | None = None, aux_weight: float = 0.0):
    """Forward + backward over length buckets (short image prompts are not padded to the
    length of a 16-frame clip); gradients equal those of one batch, mean over answer tokens.
    With `aux`, adds `aux_weight` x its loss (mean over the batch's auxiliary items)."""
    import torch

    ordered = sorted(items, key=lambda e: e.input_ids.shape[0])
    size = -(-len(ordered) // buckets)
    total = sum(int((e.labels != -100).sum()) for e in items)
    loss_sum = torch.zeros(())
    for lo in range(0, len(ordered), size):
        part = ordered[lo : lo + size]
        batch = collate(part, pad_id=pad_id)
        tokens = int((batch["labels"][:, 1:] != -100).sum())
        if aux is not None:
            aux.clear()
        loss = model(**batch).loss * (tokens / total)  # HF loss is the mean over the part's label tokens
        extra = aux.loss(part, batch, merge=MERGE) if aux is not None and aux_weight > 0 else None
        if extra is not None:
            loss = loss + aux_weight * extra * (len(part) / len(items))
        loss.backward()
        loss_sum += loss.detach()
    return loss_sum


def probe_set(processor, *, per_task: int, tasks: list[str], seed: int):
    """A fixed held-out slice (8 frames per clip, events shown) for the progress probe."""
    items = []
    for task in tasks:
        for i in range(per_task):
            rng = example_rng(seed=seed, split=Split.HELDOUT, task=task, index=100_000 + i)
            example = make_example(task=task, index=i, split=Split.HELDOUT, seed=seed)
            indices = training_indices(rng, frame_count=example.frames.shape[0], n=8, example=example) if example.is_video else None
            items.append(encode(processor, example, frame_indices=indices))
    return items


def probe(model, items, *, pad_id: int, chunk: int = 32) -> dict[str, float]:
    import torch

    hits: dict[str, list[bool]] = {}
    model.eval()
    with torch.no_grad():
        for start in range(0, len(items), chunk):
            part = items[start : start + chunk]
            batch = collate(part, pad_id=pad_id)
            labels = batch.pop("labels")
            ok = answer_hits(model(**batch).logits, labels)
            for item, good in zip(part, ok):
                hits.setdefault(item.task, []).append(bool(good))
    model.train()
    return {task: float(np.mean(v)) for task, v in hits.items()}


def start_from(folder: Path, processor):
    """The saved reference model in `folder`, to train on; its tokenizer must be the world's."""
    from transformers import AutoTokenizer, Qwen3VLForConditionalGeneration

    if AutoTokenizer.from_pretrained(folder).get_vocab() != processor.tokenizer.get_vocab():
        raise SystemExit(f"{folder}: its tokenizer is not the world's (models/world/model.py); cannot continue from it")
    return Qwen3VLForConditionalGeneration.from_pretrained(folder, dtype="float32")


def main(argv: list[str] | None = None) -> int:
    import torch

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    tasks = [t for t in args.tasks.split(",") if t]
    size = ReferenceSize(**{f: getattr(args, f) for f in vars(ReferenceSize())})
    model, processor = build(size, seed=args.seed)
    if args.init is not None:
        model = start_from(args.init, processor)
    pad_id = processor.tokenizer.pad_token_id
    params = sum(p.numel() for p in model.parameters())
    print(f"Qwen3-VL reference: {params / 1e6:.2f}M parameters, {size}", flush=True)
    aux = AuxHead(size.hidden)
    aux.watch(model)
    params_all = [*model.parameters(), *aux.parameters()]
    optimizer = torch.optim.AdamW(params_all, lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    held = probe_set(processor, per_task=args.probe_per_task, tasks=tasks, seed=args.seed)
    model.train()
    batches = prefetched(
        seed=args.seed, steps=args.steps, batch=args.batch, tasks=tasks, workers=args.workers, first=args.stream_start
    )
    start, ema, history, steps_done = time.time(), None, [], 0
    data_s = 0.0
    for step in range(args.steps):
        if time.time() - start > args.max_minutes * 60:
            print(f"time budget reached at step {step}", flush=True)
            break
        t0 = time.time()
        items = next(batches)
        data_s += time.time() - t0
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, total=args.steps, peak=args.lr, warmup=args.warmup)
        optimizer.zero_grad(set_to_none=True)
        loss = accumulate(model, items, pad_id=pad_id, buckets=args.buckets, aux=aux, aux_weight=args.aux_weight)
        torch.nn.utils.clip_grad_norm_(params_all, 1.0)
        optimizer.step()
        steps_done = step + 1
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 50 == 0:
            print(f"step {step:5d}  loss {loss.item():.4f}  ema {ema:.4f}  {time.time() - start:6.0f}s (data {data_s:.0f}s)", flush=True)
        if (step + 1) % args.probe_every == 0 or step + 1 == args.steps:
            acc = probe(model, held, pad_id=pad_id)
            aux.clear()  # the probe's forwards were captured too
            history.append({"step": step + 1, "seconds": round(time.time() - start, 1), "ema_loss": round(ema, 4), "probe": acc})
            print("  probe " + " ".join(f"{t}={a:.2f}" for t, a in acc.items()), flush=True)
    batches.close()  # stops the data workers
    elapsed = time.time() - start
    meta = {
        "command": "python models/train_reference.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "seed": args.seed,
        "init": str(args.init) if args.init is not None else None,
        "stream_start": args.stream_start,
        "steps": steps_done,
        "planned_steps": args.steps,
        "batch": args.batch,
        "examples_seen": steps_done * args.batch,
        "lr": args.lr,
        "aux_weight": args.aux_weight,
        "train_seconds": round(elapsed, 1),
        "final_ema_loss": round(ema, 4) if ema is not None else None,
        "size": vars(size),
        "parameters": params,
        "tasks": tasks,
        "frame_counts": dict(zip(map(str, FRAME_COUNTS), FRAME_COUNT_P)),
        "torch_threads": args.threads,
        "machine": platform.processor() or platform.machine(),
        "history": history,
    }
    if args.init is not None and (args.init / "training.json").exists():
        meta["init_training"] = json.loads((args.init / "training.json").read_text())  # how the start was made
    save(model, processor, args.out, meta=meta)
    print(f"saved {args.out} after {steps_done} steps in {elapsed / 60:.1f} min, ema loss {ema:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
