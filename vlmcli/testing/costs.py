"""What a request really costs in visual tokens, checked three ways (family tests' helper).

`prompt_visual_tokens` loads only the planner side of a checkpoint (config + processor),
prepares the request, counts the image and video placeholder tokens in the prompt, and
asserts that the adapter reports the same count and that its planner predicts each
image's share: the numbers `--dry-run` prints are the numbers the model is fed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vlmcli.engine import Request
    from vlmcli.tiling import ResolutionPolicy


def prompt_visual_tokens(folder: str, policy: "ResolutionPolicy", request: "Request") -> int:
    """Visual tokens in the prompt of `request` for the checkpoint in `folder` under `policy`."""
    from vlmcli.engine.config import EngineConfig
    from vlmcli.engine.loader import load_planner

    adapter = load_planner(EngineConfig(model=folder, resolution=policy)).adapter
    prepared = adapter.prepare(request)
    placeholders = {adapter.image_token_id, adapter.video_token_id} - {None}
    in_prompt = sum(int((prepared.input_ids == token).sum()) for token in placeholders)
    assert prepared.visual_tokens == in_prompt, (prepared.visual_tokens, in_prompt)
    sizes = [(im.image.width, im.image.height) for im in request.images]
    if sizes:
        planned = [plan.visual_tokens for plan in adapter.plan_images(sizes)]
        assert planned == [im.visual_tokens for im in prepared.images], planned
    return in_prompt
