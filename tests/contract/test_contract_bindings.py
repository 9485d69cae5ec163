"""The checked-in bindings match a fresh generation and accept what the schemas accept."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from contracts.catalog import Catalog, load_catalog
from sdptools.contracts.bindings_gen import (
    BINDINGS_DIR,
    generate,
    load_model,
    module_name,
    render_bindings,
    stale_bindings,
)


def test_checked_in_bindings_are_fresh() -> None:
    assert stale_bindings(BINDINGS_DIR) == [], "run `sdp contracts bindings`"


def test_generation_is_deterministic(catalog: Catalog) -> None:
    first = render_bindings(catalog)
    assert render_bindings(catalog) == first
    assert all("datamodel-codegen" not in source.split("\n", 1)[0] for source in first.values())


def test_stale_module_is_reported_and_regenerated(tmp_path: Path, catalog: Catalog) -> None:
    generate(tmp_path, catalog)
    (tmp_path / "click_v1.py").write_text("# edited by hand\n")
    (tmp_path / "refund_v1.py").write_text("# a contract that is gone\n")
    assert stale_bindings(tmp_path, catalog) == ["click_v1.py", "refund_v1.py"]
    generate(tmp_path, catalog)
    assert stale_bindings(tmp_path, catalog) == []


@pytest.mark.parametrize(
    ("name", "version"), [(c.name, v) for c in load_catalog() for v in c.versions]
)
def test_binding_parses_the_sample(catalog: Catalog, name: str, version: int) -> None:
    model = load_model(name, version)
    parsed = model.model_validate(catalog.sample(name, version))
    assert type(parsed).__name__ == name


def test_binding_rejects_what_the_schema_rejects(catalog: Catalog) -> None:
    model = load_model("Purchase", 1)
    sample = catalog.sample("Purchase", 1)
    with pytest.raises(pydantic.ValidationError, match="currency"):
        model.model_validate({**sample, "currency": "euro"})
    with pytest.raises(pydantic.ValidationError, match="extra"):
        model.model_validate({**sample, "coupon": "SPRING"})


def test_module_names() -> None:
    assert module_name("RecordsIngested", 1) == "records_ingested_v1"
    assert module_name("SignUp", 2) == "sign_up_v2"
    assert module_name("aws.events@Scheduled", "4") == "aws_events_scheduled_v4"
