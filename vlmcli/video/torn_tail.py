"""The torn end of a stream cut short mid-file (a TS recording stopped or copied part-way).

A stream with B-frames stores each reference picture before the pictures shown just before
it. Cut anywhere (`head -c`, a recorder losing power, a download stopped), its last packets
may be a reference picture whose B-frames never made it into the file: that picture is shown
after a hole of a few frame slots, and it is often itself torn (its packet cut mid-way). Kept,
the hole made a constant-rate video variable-rate (a 25 fps TS read as 24.58 fps, every time
taken from the hole-bearing timeline) and its last frame a damaged picture.

`drop_torn_tail` finds that hole: among the last frames in presentation order (as many as the
stream reorders pictures, plus one), a gap of more than 1.5 and at most reorder + 1.5 frame
slots, after which every frame comes from the last packets of the file. Those frames are
left out of the index (the reader skips pictures the index does not list). A stream that
reorders nothing just ends where it was cut, with no hole; a hold of many frames at the end
of a variable-rate video is longer than the window and kept.
"""

from __future__ import annotations

from collections.abc import Sequence

from vlmcli.video.packet_index import PacketInfo

HOLE_SLOTS = 1.5
"""A gap of more than this many frame slots between two frames is a hole."""


def drop_torn_tail(
    packets: Sequence[PacketInfo], *, time_base: float, fps: float | None,
) -> tuple[list[PacketInfo], int]:
    """`packets` (decode order) without the frames shown after a hole at a cut end, and how
    many were left out (0: the packets unchanged)."""
    shown = [(p.pts, k) for k, p in enumerate(packets) if not p.hidden]  # (pts, decode position)
    if len(shown) < 8 or any(pts is None for pts, _ in shown) or len({pts for pts, _ in shown}) != len(shown):
        return list(packets), 0
    order = sorted(shown)  # presentation order
    rank = {k: r for r, (_, k) in enumerate(order)}
    depth = max(rank[k] - i for i, (_, k) in enumerate(shown))  # pictures shown before one decoded earlier
    if depth <= 0:
        return list(packets), 0
    step = _frame_slot(order, time_base=time_base, fps=fps)
    last_packets = len(packets) - (depth + 1)
    window = order[-(depth + 2):]
    for i in range(1, len(window)):
        gap = window[i][0] - window[i - 1][0]
        if gap <= HOLE_SLOTS * step:
            continue
        after = window[i:]
        if gap > (depth + HOLE_SLOTS) * step or any(k < last_packets for _, k in after):
            break
        dropped = {k for _, k in after}
        return [p for k, p in enumerate(packets) if k not in dropped], len(dropped)
    return list(packets), 0


def _frame_slot(order: list[tuple[int, int]], *, time_base: float, fps: float | None) -> float:
    """One frame's slot in time-base units: from the frame rate, else the median gap."""
    if fps:
        return 1.0 / (fps * time_base)
    gaps = sorted(b[0] - a[0] for a, b in zip(order, order[1:]))
    return float(gaps[len(gaps) // 2])
