"""The actor pool of `--engine ray`: how many actors, how the planned batches are spread over
them, what each gets of the GPUs, and what they report back.

    shape = PoolShape.of(batches=5, concurrency=2)   # 2 actors, 2 calls (3 and 2 planned batches)
    reports = ActorReports(); reports.add(info, arrived=time.monotonic()); reports.apply(summary)

Each Ray Data block is one actor call. A call takes up to `CALL_BATCHES` planned batches
(one stream through the decode slots), but a job is split into at least as many calls as
it has actors, so `--concurrency 2` on three batches gives both actors work instead of one
call to one actor; an actor is never started with nothing to do (actors <= calls), and an
actor takes one call at a time (`max_tasks_in_flight_per_actor=1`: Ray Data's default of 2
queued the second call behind a busy actor while another stood idle, seen on a real run).

Actors report, with the rows of each call, what the local engine's summary says of its one
engine: the model's load time, the batching it chose, and the call's duration, so the
driver can say when captioning began (`ActorReports.apply`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vlmcli.captions.config import CaptionJob
    from vlmcli.captions.summary import Summary

CALL_BATCHES = 4
"""Most planned batches per actor call: one stream through the decode slots, so a slot freed
near the end of one batch is taken by the next batch's first image."""

ACTOR_COLUMN = "__vlmcli_actor"
"""The column of an actor's table that carries its report (`ActorInfo` as JSON, on the first
row; the driver drops it before the rows reach the sink)."""


@dataclass(frozen=True)
class PoolShape:
    actors: int
    """Actors to start: --concurrency, or fewer when there are fewer calls."""
    calls: int
    """Actor calls (Ray Data blocks) the batches are split into, each up to CALL_BATCHES."""

    @classmethod
    def of(cls, *, batches: int, concurrency: int) -> "PoolShape":
        if batches <= 0:
            return cls(actors=0, calls=0)
        actors = max(1, min(concurrency, batches))
        return cls(actors=actors, calls=max(actors, -(-batches // CALL_BATCHES)))


def gpus_per_actor(device: Any, cluster_gpus: float | None) -> float | None:
    """GPUs each actor asks Ray for: none with --device cpu, one with cuda, and with auto one
    when the cluster has a GPU (`cluster_gpus`; None, not known yet: None)."""
    name = getattr(device, "value", device)
    if name == "cpu":
        return 0
    if name == "cuda":
        return 1
    if cluster_gpus is None:
        return None
    return 1 if cluster_gpus >= 1 else 0


@dataclass(frozen=True)
class ActorInfo:
    actor: str
    """A name unique to the actor (it loads one engine)."""
    load_s: float
    batching: str
    call_s: float
    """Seconds the call took on the actor (decoding and captioning its batches)."""

    def to_json(self) -> str:
        return json.dumps(vars(self))

    @classmethod
    def from_json(cls, text: str) -> "ActorInfo":
        fields = json.loads(text)
        return cls(
            actor=str(fields["actor"]), load_s=float(fields["load_s"]), batching=str(fields["batching"]),
            call_s=float(fields["call_s"]),
        )  # fmt: skip


@dataclass
class ActorReports:
    """What the actors of one run reported, call by call."""

    loads: dict[str, float] = field(default_factory=dict)
    batching: dict[str, str] = field(default_factory=dict)
    calls: int = 0
    first_call_at: float | None = None
    """When the earliest call began, on this process's monotonic clock (its arrival less its duration)."""
    floor: float | None = None
    """The summary's own start of captioning, as it was before the first report (`apply`)."""
    _applied: bool = False

    def add(self, info: ActorInfo, *, arrived: float) -> None:
        self.loads[info.actor] = info.load_s
        self.batching[info.actor] = info.batching
        self.calls += 1
        began = arrived - info.call_s
        self.first_call_at = began if self.first_call_at is None else min(self.first_call_at, began)

    def describe(self) -> str:
        """The batching of each distinct kind, with how many actors ran it."""
        counts: dict[str, int] = {}
        for mode in self.batching.values():
            counts[mode] = counts.get(mode, 0) + 1
        return "; ".join(f"{mode}, on {n} Ray actor{'s' if n != 1 else ''}" for mode, n in counts.items())

    def apply(self, summary: "Summary") -> None:
        """`load_s`: the slowest actor's model load (they load side by side); `batching`: what
        the actors ran; captioning timed from the first call, as the local engine times it
        from after the model loaded (Ray's start and the loads are not in the rate)."""
        if not self.loads:
            return
        if not self._applied:
            self.floor, self._applied = summary.caption_started, True
        summary.load_s = max(self.loads.values())
        summary.batching = self.describe()
        if self.first_call_at is not None:
            summary.caption_started = max(self.floor or self.first_call_at, self.first_call_at)


def pool_plan(job: "CaptionJob", *, batches: int) -> dict[str, Any]:
    """What `--engine ray` would start for `batches` planned batches, without starting Ray
    (the dry run's `ray`): the address it would join (None: a local Ray on this machine),
    actors, calls and the most planned batches in one, and GPUs per actor (None: one if the
    cluster has a GPU, decided when Ray starts)."""
    address = os.environ.get("RAY_ADDRESS", "").strip() or None
    shape = PoolShape.of(batches=batches, concurrency=job.concurrency)
    return {
        "address": address,
        "concurrency": job.concurrency,
        "actors": shape.actors,
        "calls": shape.calls,
        "batches_per_call": -(-batches // shape.calls) if shape.calls else 0,
        "gpus_per_actor": gpus_per_actor(job.engine.device, None),
    }


def pool_text(plan: dict[str, Any], *, estimated: bool) -> str:
    """The dry run's line of `pool_plan`; `estimated`: the report has a measured time (of one
    engine on this machine, which the line says)."""
    address = plan["address"]
    if address is None:
        where = "a local Ray would start on this machine (RAY_ADDRESS is not set)"
    else:
        where = f"would join the Ray cluster at RAY_ADDRESS={address}"
    gpus = plan["gpus_per_actor"]
    each = "1 GPU each if the cluster has one, else none (--device auto)" if gpus is None else f"{_count(gpus, 'GPU')} each"
    actors, calls, per_call = plan["actors"], plan["calls"], plan["batches_per_call"]
    pool = (
        f"{_count(actors, 'actor')} (--concurrency {plan['concurrency']}), {each}, "
        f"in {_count(calls, 'call')} of up to {_count(per_call, 'planned batch', 'es')}"
        if actors
        else "no actor would start (nothing to caption)"
    )
    caveat = "; the estimated time below is one engine's, on this machine" if estimated else ""
    return f"Ray: {where}; {pool}{caveat}."


def _count(number: float, noun: str, plural: str = "s") -> str:
    return f"{number:g} {noun}{plural if number != 1 else ''}"
