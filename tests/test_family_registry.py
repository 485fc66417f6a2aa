"""The family registry (`vlmcli.families`) is the one list of families, and the rest follows it.

Every registered model type has a tiny-checkpoint builder and is in the parity, dry-run
token and planner-agreement tests; every map derived from the registry agrees with it;
README's coverage table is exactly what the registry generates; docs/adding-a-family.md
names files that exist. Fast: no checkpoint is built (builders and adapters are imported,
not run).
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from vlmcli.engine.adapters.base import Adapter
from vlmcli.families import (
    FAMILIES,
    builder_refs,
    family_for_model_type,
    resolve,
    supported_model_types,
)
from vlmcli.families.coverage import readme_block, readme_table
from vlmcli.testing import MODEL_TYPES

ROOT = Path(__file__).resolve().parents[1]
MODEL_TYPE_CASES = [(spec, t) for spec in FAMILIES for t in spec.model_types]
IDS = [t for _, t in MODEL_TYPE_CASES]


def parametrised_model_types(test) -> set[str]:
    """The values a test function is parametrised over for its "family" argument."""
    marks = [m for m in getattr(test, "pytestmark", []) if m.name == "parametrize" and m.args[0] == "family"]
    assert len(marks) == 1, test
    return set(marks[0].args[1])


def test_names_and_model_types_are_unique():
    names = [spec.name for spec in FAMILIES]
    assert len(set(names)) == len(names)
    types = [t for spec in FAMILIES for t in spec.model_types]
    assert len(set(types)) == len(types)


@pytest.mark.parametrize(("spec", "model_type"), MODEL_TYPE_CASES, ids=IDS)
def test_derived_maps_agree_with_the_registry(spec, model_type):
    assert family_for_model_type(model_type) is spec
    assert model_type in supported_model_types()
    assert builder_refs()[model_type] == f"{spec.builders}:build_{model_type}"


def test_derived_lists_hold_exactly_the_registry():
    assert supported_model_types() == tuple(t for spec in FAMILIES for t in spec.model_types)
    assert tuple(builder_refs()) == supported_model_types()
    assert family_for_model_type("bert") is None


@pytest.mark.parametrize("spec", FAMILIES, ids=[s.name for s in FAMILIES])
def test_adapter_and_planner_resolve(spec):
    adapter = spec.adapter_class()
    assert issubclass(adapter, Adapter) and not inspect.isabstract(adapter)
    planner = resolve(spec.planner)
    assert callable(planner) and spec.planner.startswith("vlmcli.tiling.")
    # the adapter plans with the registered planner (the one the agreement tests check)
    assert planner.__name__ in inspect.getsource(inspect.getmodule(adapter))


@pytest.mark.parametrize(("spec", "model_type"), MODEL_TYPE_CASES, ids=IDS)
def test_every_model_type_has_a_tiny_checkpoint_builder(spec, model_type):
    builder = resolve(builder_refs()[model_type])
    assert callable(builder) and "seed" in inspect.signature(builder).parameters
    assert model_type in MODEL_TYPES  # this transformers ships it: no test is silently skipped


def test_parity_and_dry_run_token_tests_cover_every_model_type():
    from tests import test_engine_parity, test_engine_token_budget

    everything = set(supported_model_types())
    assert parametrised_model_types(test_engine_parity.test_greedy_matches_generate_single_and_batched) == everything
    assert parametrised_model_types(test_engine_parity.test_prompt_is_the_processors_chat_template) == everything
    assert parametrised_model_types(test_engine_token_budget.test_planned_tokens_equal_fed_tokens) == everything


def test_every_planner_is_checked_against_transformers():
    """In tests/test_tiling_agreement.py or the family's own tests/test_family_<name>.py."""
    for spec in FAMILIES:
        name = spec.planner.split(":")[1]
        files = [ROOT / "tests" / "test_tiling_agreement.py", ROOT / "tests" / f"test_family_{spec.name}.py"]
        source = "".join(p.read_text() for p in files if p.exists())
        assert re.search(rf"\b{name}\(", source), f"neither {files[0].name} nor {files[1].name} calls {name}"


def test_readme_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    assert readme_table(readme) == readme_block(), "run `python -m vlmcli.families --markdown` and paste it in README"


def test_how_to_names_files_that_exist():
    text = (ROOT / "docs" / "adding-a-family.md").read_text()
    paths = set(re.findall(r"`((?:vlmcli|tests|docs)/[\w/.-]+\.(?:py|md))`", text))
    assert paths, "the how-to names no files"
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, missing
