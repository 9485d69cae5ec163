"""The capacity simulator: profiles, cited rules, measured work, the engine's rules."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import pytest

from sdptools.capacity import profiles
from sdptools.capacity.analysis import summarize, sustained_cost
from sdptools.capacity.engine import Simulator
from sdptools.capacity.recommend import recommend
from sdptools.capacity.rules import RULES_FILE, Rules, RulesError
from sdptools.capacity.settings import TableSettings, defaults, stack_parameters
from sdptools.capacity.work import MEASURED_FILE, Work, WorkError, load_work, work_from_report
from sdptools.cost.report import load_prices

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def work() -> Work:
    return load_work()


@pytest.fixture(scope="module")
def rules() -> Rules:
    return Rules.load()


# -- profiles ----------------------------------------------------------------------------
def test_ramp_reaches_its_peak_and_holds() -> None:
    p = profiles.ramp("0:1000:10:5")
    assert p.seconds == 15 and p.steady_from == 10
    assert p.rates[0] == 100 and p.rates[9] == 1000 and p.rates[-1] == 1000


def test_spike_and_steady() -> None:
    spike = profiles.spike("10:500:5:20")
    assert spike.rates.count(500) == 5 and spike.rates[0] == 10 and spike.seconds == 20
    assert profiles.steady("7:3").rates == (7, 7, 7)


@pytest.mark.parametrize(
    ("maker", "text"),
    [
        (profiles.ramp, "0:100"),
        (profiles.ramp, "a:b:c"),
        (profiles.ramp, "0:100:1.5"),
        (profiles.spike, "1:2:30:10"),
        (profiles.steady, "-5"),
    ],
)
def test_bad_profiles_are_one_line_errors(maker, text) -> None:
    with pytest.raises(profiles.ProfileError) as info:
        maker(text)
    assert "\n" not in str(info.value)


def test_profile_file(tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text("second,rate\n0, 10\n# comment\n3 50\n5,50\n")
    p = profiles.from_file(f)
    assert p.rates == (10, 10, 10, 50, 50, 50)
    f.write_text("0,10\n0,20\n")
    with pytest.raises(profiles.ProfileError, match="increase"):
        profiles.from_file(f)
    f.write_text("0,ten\n1,2\n")
    with pytest.raises(profiles.ProfileError, match=":1:"):
        profiles.from_file(f)


# -- rules ---------------------------------------------------------------------------
def test_every_rule_cites_an_aws_page(rules: Rules) -> None:
    data = json.loads(RULES_FILE.read_text())
    assert {k for k in data if not k.startswith("_")} == set(rules.rules)
    for rule in rules.rules.values():
        assert rule.source.startswith("https://"), rule.key
        host = rule.source.split("/")[2]
        assert host.endswith(("aws.amazon.com", "repost.aws")), rule.source


def test_rule_overrides(rules: Rules) -> None:
    assert rules.with_overrides({"eventbridge_hop_ms": 7}).value("eventbridge_hop_ms") == 7
    with pytest.raises(RulesError, match="unknown rule"):
        rules.with_overrides({"no_such_rule": 1})


# -- measured work -------------------------------------------------------------------
def test_measured_work_file_is_a_real_extraction(work: Work) -> None:
    data = json.loads(MEASURED_FILE.read_text())
    assert data["source"].startswith("demo-") and data["records"] >= 10000
    assert 1.0 < sum(t.wru for t in work.tables.values()) < 2.0
    assert all(s.ms_per_record > 0 for s in work.stages.values())


def test_work_from_a_report_without_units_is_refused() -> None:
    with pytest.raises(WorkError, match="no measured units"):
        work_from_report({"records": {"published": 5}}, "x.json")


# -- defaults from the templates -----------------------------------------------------
def test_defaults_are_read_from_the_templates() -> None:
    settings = defaults(ROOT)
    assert settings.stages["store"].max_concurrency == 20
    assert settings.stages["aggregate"].window_s == 1.0
    assert settings.table("sdp-records").mode == "on-demand"
    params = stack_parameters(settings)
    assert params["sdp-store"]["MaximumConcurrency"] == "20"
    assert params["sdp-platform"]["RecordsCapacityMode"] == "on-demand"


# -- the engine's rules --------------------------------------------------------------
def test_new_on_demand_table_caps_what_is_stored(work: Work, rules: Rules) -> None:
    settings = defaults(ROOT)
    sim = Simulator(work, settings, rules)
    result = sim.run(profiles.steady("20000:120"), tail_s=0)
    records_wru = work.tables["sdp-records"].wru / work.stages["store"].records
    ceiling = 4000 / records_wru  # a new on-demand table: 4,000 WRU/s
    # what a second admits may use the second before's unused units (the admission
    # bucket holds one second of capacity), never more in total
    seconds = len(result.seconds)
    assert sum(s.stored for s in result.seconds) <= ceiling * (seconds + 1)
    assert max(result.tables["sdp-records"].consumed) <= 4000 + 1e-6
    assert result.tables["sdp-records"].throttled_seconds > 0
    assert result.tables["sdp-records"].throttle_events > 0
    assert result.lost == pytest.approx(0.0, abs=1e-6)


def test_warm_throughput_removes_the_throttling(work: Work, rules: Rules) -> None:
    base = defaults(ROOT)
    stages = {k: replace(v, max_concurrency=1000) for k, v in base.stages.items()}
    warm = replace(
        base,
        stages=stages,
        tables={
            "sdp-records": TableSettings(warm_write_units=100000),
            "sdp-aggregates": TableSettings(warm_write_units=100000),
        },
    )
    # a ramp the pollers keep up with (+300 a minute): no backlog piles up, so nothing
    # is sent faster than the warm tables take it
    result = Simulator(work, warm, rules).run(profiles.ramp("0:20000:30:60"))
    assert all(t.throttled_seconds == 0 for t in result.tables.values())
    assert result.stored == pytest.approx(result.offered, rel=1e-6)
    # a step to 20,000/s does pile records up while the pollers scale; once enough of
    # them drain it at full speed, the table refuses some writes for a few seconds
    step = Simulator(work, warm, rules).run(profiles.steady("20000:120"))
    assert step.tables["sdp-records"].throttled_seconds <= 10
    assert step.stored == pytest.approx(step.offered, rel=1e-6)


def test_pollers_scale_by_the_documented_step(work: Work, rules: Rules) -> None:
    base = defaults(ROOT)
    stages = {k: replace(v, max_concurrency=1000) for k, v in base.stages.items()}
    settings = replace(
        base,
        stages=stages,
        tables={n: TableSettings(warm_write_units=1e6) for n in ("sdp-records", "sdp-aggregates")},
    )
    result = Simulator(work, settings, rules).run(profiles.steady("100000:30"), tail_s=0)
    store = [s.concurrency["store"] for s in result.seconds]
    steps = [b - a for a, b in itertools.pairwise(store)]
    assert max(steps) <= 300 / 60 + 1e-9  # +300 batches a minute


def test_on_demand_doubles_only_after_the_window(work: Work, rules: Rules) -> None:
    sim = Simulator(
        work, defaults(ROOT), rules.with_overrides({"dynamodb_ondemand_peak_window_s": 60})
    )
    result = sim.run(profiles.steady("20000:150"), tail_s=0)
    caps = [s.table_capacity["sdp-records"] for s in result.seconds]
    assert max(caps[:60]) == 4000  # a new table: 4,000 WRU/s until the window has passed
    assert caps[70] == 8000  # then twice the peak it served (throttled at 4,000)


def test_provisioned_auto_scaling_reacts_after_trigger_and_update(work: Work, rules: Rules) -> None:
    base = defaults(ROOT)
    table = TableSettings(mode="provisioned", min_write_units=2000, max_write_units=40000)
    settings = replace(base, tables={"sdp-records": table, "sdp-aggregates": table})
    result = Simulator(work, settings, rules).run(profiles.steady("10000:600"), tail_s=0)
    caps = [s.table_capacity["sdp-records"] for s in result.seconds]
    first_raise = next(i for i, c in enumerate(caps) if c > 2000)
    assert first_raise >= 120 + 180  # two minutes over target, then the update


def test_recommended_settings_meet_the_targets_and_cost_less(work: Work, rules: Rules) -> None:
    prices = load_prices()
    profile = profiles.ramp("0:100000:60")
    base = defaults(ROOT)
    settings, advice = recommend(work, rules, profile, base, prices)
    sim = Simulator(work, settings, rules)
    summary = summarize(sim.run(profile), sim, prices)
    assert all(summary["targets"].values()), summary["targets"]
    assert any(
        q["quota"].endswith("Table-level write throughput limit") for q in advice["quotas_to_raise"]
    )
    defaults_sim = Simulator(work, base, rules)
    today = summarize(defaults_sim.run(profile), defaults_sim, prices)
    assert not today["targets"]["drained_within_2_min"]


def test_break_even_of_capacity_modes(work: Work) -> None:
    prices = load_prices()
    cost = sustained_cost(work, 100000, prices)
    assert cost["cheaper"] == "provisioned"
    assert cost["break_even_utilisation"] == pytest.approx(0.00065 / 3600 / 0.625e-6, rel=1e-3)
    low = sustained_cost(work, 100000, prices, target_utilisation=0.2)
    assert low["cheaper"] == "on-demand"


def test_recommended_stack_parameters_exist_in_the_templates(work: Work, rules: Rules) -> None:
    from samtranslator.yaml_helper import yaml_parse

    settings, _ = recommend(
        work, rules, profiles.ramp("0:100000:60"), defaults(ROOT), load_prices()
    )
    for stack, params in stack_parameters(settings).items():
        name = stack.removeprefix("sdp-")
        path = ROOT / ("infra/platform" if name == "platform" else f"services/{name}")
        declared = yaml_parse((path / "template.yaml").read_text())["Parameters"]
        assert set(params) <= set(declared), (stack, set(params) - set(declared))


def test_recommended_events_fill_whole_eventbridge_chunks_and_meet_the_cost_target(
    work: Work, rules: Rules
) -> None:
    from sdptools.capacity.analysis import CHUNK_KB, ENTRY_KB
    from sdptools.capacity.recommend import chunk_fits

    largest = max(ENTRY_KB / s.records_per_message for s in work.stages.values())
    one_chunk = chunk_fits(work)[0]
    assert one_chunk * largest <= CHUNK_KB < (one_chunk + 1) * largest
    prices = load_prices()
    settings, advice = recommend(work, rules, profiles.ramp("0:100000:60"), defaults(ROOT), prices)
    assert settings.records_per_event == one_chunk, advice["candidates"]
    sim = Simulator(work, settings, rules)
    # the targets together: <= $0.50 per million records at a sustained 100,000/s with
    # the settings that meet the latency target
    assert sustained_cost(work, 100000, prices, sim=sim)["usd_per_million_provisioned"] <= 0.50
