"""The project's template rules (sdptools/templatecheck/checks.py): each fixture breaks
exactly one rule and produces exactly that finding; the real templates produce none."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from sdptools.templatecheck import checks
from sdptools.templatecheck.checks import Finding, check_document, check_template, load_template
from sdptools.templatecheck.runner import default_templates, display_name

FIXTURES = Path(__file__).parent / "fixtures"

# fixture -> (the one rule it breaks, the resource the finding names)
BROKEN: dict[str, tuple[str, str]] = {
    "iam_wildcard.yaml": ("iam-wildcard", "GreedyFunction"),
    "iam_role_service_wildcard.yaml": ("iam-wildcard", "TableAdminRole"),
    "rule_target_without_dlq.yaml": ("rule-target-dlq", "WorkRule"),
    "queue_without_redrive.yaml": ("queue-redrive", "WorkQueue"),
    "function_without_tracing.yaml": ("function-tracing", "DarkFunction"),
    "function_without_log_group.yaml": ("function-log-retention", "ChattyFunction"),
    "queue_without_encryption.yaml": ("encryption-at-rest", "PlainDlq"),
    "bucket_public.yaml": ("bucket-public-access", "OpenBucket"),
    "bucket_without_tls_policy.yaml": ("bucket-tls-only", "PlainBucket"),
    "putevents_without_source.yaml": ("bus-source-condition", "LooseFunction"),
    "publisher_without_role_path.yaml": ("publisher-role-path", "PathlessFunction"),
    "bus_without_trust_boundary.yaml": ("bus-trust-boundary", "OpenBus"),
    "httpapi_without_iam_auth.yaml": ("httpapi-iam-auth", "OpenApi"),
    "wildcard_exception_without_reason.yaml": ("allow-wildcard-entry", "Metadata"),
    "alarm_without_actions.yaml": ("alarm-actions", "SilentAlarm"),
}


@pytest.mark.parametrize("fixture", sorted(BROKEN))
def test_each_fixture_breaks_exactly_its_rule(fixture: str) -> None:
    rule, resource = BROKEN[fixture]
    findings = check_template(FIXTURES / fixture, fixture)
    assert [(f.rule, f.resource) for f in findings] == [(rule, resource)], findings


def test_every_rule_has_a_failing_fixture() -> None:
    documented = {
        line.split()[0]
        for line in (checks.__doc__ or "").splitlines()
        if line[:1].isalpha() and "-" in line.split()[0] and not line.startswith("Rules")
    }
    assert documented == {rule for rule, _ in BROKEN.values()}


def test_the_good_fixture_passes_every_rule() -> None:
    assert check_template(FIXTURES / "good.yaml") == []


@pytest.mark.parametrize("template", default_templates(), ids=display_name)
def test_real_templates_have_no_findings(template: Path) -> None:
    assert check_template(template, display_name(template)) == []


# ------------------------------------------------------------------------- variants
@pytest.fixture
def good() -> dict[str, Any]:
    return load_template(FIXTURES / "good.yaml")


def _rules(template: dict[str, Any], service: str | None = "demo") -> list[tuple[str, str]]:
    return [(f.rule, f.resource) for f in check_document(template, "t.yaml", service)]


def _statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    policies = template["Resources"]["DemoFunction"]["Properties"]["Policies"]
    statements: list[dict[str, Any]] = policies[0]["Statement"]
    return statements


def test_wildcard_exception_needs_its_entry(good: dict[str, Any]) -> None:
    del good["Metadata"]["sdp"]["allow_wildcard"]["TraceSegments"]
    assert _rules(good) == [("iam-wildcard", "DemoFunction")]


def test_stale_wildcard_exception_is_reported(good: dict[str, Any]) -> None:
    good["Metadata"]["sdp"]["allow_wildcard"]["Gone"] = "this statement was removed long ago"
    assert _rules(good) == [("allow-wildcard-entry", "Metadata")]


def test_unnamed_wildcard_statement_cannot_be_excused(good: dict[str, Any]) -> None:
    del _statements(good)[1]["Sid"]
    findings = check_document(good, "t.yaml", "demo")
    assert [(f.rule, f.resource) for f in findings] == [
        ("iam-wildcard", "DemoFunction"),
        ("allow-wildcard-entry", "Metadata"),  # its entry now excuses nothing
    ]
    assert "give it a Sid" in findings[0].message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"Action": "s3:*", "Resource": "arn:aws:s3:::b"}, 'Action "s3:*"'),
        ({"NotAction": "iam:*", "Resource": "arn:aws:s3:::b"}, "NotAction"),
        ({"Action": "s3:GetObject", "NotResource": "arn:aws:s3:::b"}, "NotResource"),
        ({"Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b", "*"]}, 'Resource "*"'),
    ],
)
def test_wildcard_shapes(good: dict[str, Any], change: dict[str, Any], expected: str) -> None:
    _statements(good).append({"Sid": "Extra", "Effect": "Allow", **change})
    findings = check_document(good, "t.yaml", "demo")
    assert [f.rule for f in findings] == ["iam-wildcard"]
    assert expected in findings[0].message


def test_deny_statements_may_use_wildcards(good: dict[str, Any]) -> None:
    _statements(good).append({"Effect": "Deny", "Action": "*", "Resource": "*"})
    assert _rules(good) == []


def test_admin_managed_policy_is_a_wildcard(good: dict[str, Any]) -> None:
    good["Resources"]["DemoFunction"]["Properties"]["Policies"].append("AdministratorAccess")
    assert _rules(good) == [("iam-wildcard", "DemoFunction")]


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        ({"StringEquals": {"events:source": "sdp.store"}}, "allows source 'sdp.store'"),
        ({"StringEquals": {"events:source": ["sdp.demo", "sdp.x"]}}, "several sources"),
        ({"StringLike": {"events:source": "sdp.*"}}, "no StringEquals events:source"),
    ],
)
def test_publishing_needs_the_services_own_source(
    good: dict[str, Any], condition: dict[str, Any], problem: str
) -> None:
    _statements(good)[0]["Condition"] = condition
    findings = [f for f in check_document(good, "t.yaml", "demo")]
    source = [f for f in findings if f.rule == "bus-source-condition"]
    assert len(source) == 1 and problem in source[0].message
    # publishing another service's source is also off the role's path
    assert {f.rule for f in findings} - {"bus-source-condition"} <= {"publisher-role-path"}


def test_a_publisher_needs_its_sources_role_path(good: dict[str, Any]) -> None:
    good["Resources"]["DemoFunction"]["Properties"]["RolePath"] = "/sdp/other/"
    assert _rules(good) == [("publisher-role-path", "DemoFunction")]
    del good["Resources"]["DemoFunction"]["Properties"]["RolePath"]
    good["Globals"]["Function"]["RolePath"] = "/sdp/demo/"  # from Globals it counts
    assert _rules(good) == []


def _bus_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = template["Resources"]["DemoBus"]["Properties"]["Policy"][
        "Statement"
    ]
    return statements


def test_the_bus_must_deny_unlisted_pipeline_sources(good: dict[str, Any]) -> None:
    del _bus_statements(good)[0]
    findings = check_document(good, "t.yaml", "demo")
    assert [(f.rule, f.resource) for f in findings] == [("bus-trust-boundary", "DemoBus")]
    assert "'sdp.*'" in findings[0].message


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.pop(),  # no statement for sdp.demo at all
        lambda s: s[1]["Condition"]["ArnNotLike"].update(
            {"aws:PrincipalArn": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"}}
        ),  # any role may publish it
        lambda s: s[1].update({"Effect": "Allow"}),
    ],
)
def test_the_bus_must_keep_each_source_to_its_roles(good: dict[str, Any], change: Any) -> None:
    change(_bus_statements(good))
    findings = check_document(good, "t.yaml", "demo")
    assert [(f.rule, f.resource) for f in findings] == [("bus-trust-boundary", "DemoBus")]
    assert "sdp.demo" in findings[0].message


def test_put_events_policy_template_is_refused(good: dict[str, Any]) -> None:
    policies = good["Resources"]["DemoFunction"]["Properties"]["Policies"]
    policies.append({"EventBridgePutEventsPolicy": {"EventBusName": "sdp-bus"}})
    assert _rules(good) == [("bus-source-condition", "DemoFunction")]


def test_service_comes_from_the_path_or_metadata(tmp_path: Path) -> None:
    service_dir = tmp_path / "services" / "enrich"
    service_dir.mkdir(parents=True)
    assert checks.service_of(service_dir / "template.yaml", {}) == "enrich"
    assert checks.service_of(tmp_path / "t.yaml", {"Metadata": {"sdp": {"service": "x"}}}) == "x"
    assert checks.service_of(tmp_path / "t.yaml", {}) is None


def test_tracing_from_globals_counts(good: dict[str, Any]) -> None:
    del good["Globals"]["Function"]["Tracing"]
    assert _rules(good) == [
        ("function-tracing", "DemoFunction"),
        ("function-tracing", "HelperFunction"),
    ]
    good["Resources"]["DemoFunction"]["Properties"]["Tracing"] = "Active"
    assert _rules(good) == [("function-tracing", "HelperFunction")]


def test_log_group_needs_retention(good: dict[str, Any]) -> None:
    del good["Resources"]["DemoLogs"]["Properties"]["RetentionInDays"]
    assert _rules(good) == [("function-log-retention", "DemoLogs")]


def test_log_group_named_for_another_function_does_not_count(good: dict[str, Any]) -> None:
    good["Resources"]["DemoLogs"]["Properties"]["LogGroupName"] = "/aws/lambda/sdp-other"
    assert _rules(good) == [("function-log-retention", "DemoFunction")]


def test_logging_config_log_group_counts(good: dict[str, Any]) -> None:
    good["Resources"]["DemoLogs"]["Properties"]["LogGroupName"] = "/sdp/demo"
    props = good["Resources"]["DemoFunction"]["Properties"]
    props["LoggingConfig"] = {"LogGroup": {"Ref": "DemoLogs"}}
    assert _rules(good) == []


@pytest.mark.parametrize(
    ("resource", "prop"),
    [("DemoTable", "SSESpecification"), ("DemoBucket", "BucketEncryption")],
)
def test_tables_and_buckets_need_encryption(good: dict[str, Any], resource: str, prop: str) -> None:
    del good["Resources"][resource]["Properties"][prop]
    assert _rules(good) == [("encryption-at-rest", resource)]


def test_queue_with_kms_key_is_encrypted(good: dict[str, Any]) -> None:
    props = good["Resources"]["DemoQueue"]["Properties"]
    del props["SqsManagedSseEnabled"]
    props["KmsMasterKeyId"] = "alias/sdp"
    assert _rules(good) == []


def test_dlq_is_recognised_by_reference_not_only_by_name(good: dict[str, Any]) -> None:
    good["Resources"]["DemoDlq"]["Properties"]["QueueName"] = "sdp-demo-failures"
    assert _rules(good) == []  # still DemoQueue's deadLetterTargetArn
    del good["Resources"]["DemoQueue"]["Properties"]["RedrivePolicy"]
    del good["Resources"]["DemoRule"]["Properties"]["Targets"][0]["DeadLetterConfig"]
    assert _rules(good) == [
        ("queue-redrive", "DemoDlq"),
        ("queue-redrive", "DemoQueue"),
        ("rule-target-dlq", "DemoRule"),
    ]


def test_bucket_policy_must_deny_plain_http(good: dict[str, Any]) -> None:
    statement = good["Resources"]["DemoBucketPolicy"]["Properties"]["PolicyDocument"]
    statement["Statement"][0]["Effect"] = "Allow"
    assert _rules(good) == [("bucket-tls-only", "DemoBucket")]


def test_http_route_cannot_opt_out_of_iam(good: dict[str, Any]) -> None:
    events = good["Resources"]["DemoFunction"]["Properties"]["Events"]
    events["Post"]["Properties"]["Auth"] = {"Authorizer": "NONE"}
    assert _rules(good) == [("httpapi-iam-auth", "DemoFunction")]
    del events["Post"]["Properties"]["ApiId"], events["Post"]["Properties"]["Auth"]
    assert _rules(good) == [("httpapi-iam-auth", "DemoFunction")]  # the implicit API


def test_function_events_from_rules_need_a_dlq(good: dict[str, Any]) -> None:
    events = good["Resources"]["HelperFunction"]["Properties"].setdefault("Events", {})
    events["Nightly"] = {"Type": "Schedule", "Properties": {"Schedule": "rate(1 day)"}}
    assert _rules(good) == [("rule-target-dlq", "HelperFunction")]
    events["Nightly"]["Properties"]["DeadLetterConfig"] = {"Type": "SQS"}
    assert _rules(good) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"AlarmActions": []}, "no AlarmActions"),
        ({"OKActions": None}, "no OKActions"),
        ({"AlarmActions": None, "OKActions": []}, "no AlarmActions and no OKActions"),
        ({"ActionsEnabled": False}, "ActionsEnabled: false"),
    ],
)
def test_alarms_must_notify(good: dict[str, Any], change: dict[str, Any], problem: str) -> None:
    good["Resources"]["DemoDlqAlarm"]["Properties"].update(change)
    findings = check_document(good, "t.yaml", "demo")
    assert [(f.rule, f.resource) for f in findings] == [("alarm-actions", "DemoDlqAlarm")]
    assert problem in findings[0].message


def test_every_real_alarm_notifies_the_alarm_topic() -> None:
    """The 25 alarms of the seven stacks: each sends ALARM and OK to the platform's topic,
    the service stacks through the topic ARN the platform publishes in SSM."""
    alarms = 0
    for template in default_templates():
        document = load_template(template)
        topic: dict[str, str]
        if template.parent.name == "platform":
            topic = {"Ref": "AlarmTopic"}
            assert document["Resources"]["AlarmTopic"]["Properties"]["KmsMasterKeyId"]
        else:
            topic = {"Ref": "AlarmTopicArn"}
            assert document["Parameters"]["AlarmTopicArn"]["Default"] == "/sdp/alarms/topic-arn"
        for resource in document["Resources"].values():
            if resource["Type"] == "AWS::CloudWatch::Alarm":
                alarms += 1
                assert resource["Properties"]["AlarmActions"] == [topic]
                assert resource["Properties"]["OKActions"] == [topic]
    assert alarms == 25


def test_unreadable_template_is_a_finding(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("Resources: [unclosed\n")
    [finding] = check_template(broken, "broken.yaml")
    assert finding.rule == "template-parse"


def test_checks_do_not_modify_the_template(good: dict[str, Any]) -> None:
    before = copy.deepcopy(good)
    check_document(good, "t.yaml", "demo")
    assert good == before


def test_finding_is_the_four_fields() -> None:
    finding = Finding("t.yaml", "Res", "rule", "message")
    assert tuple(finding.as_dict().values()) == ("t.yaml", "Res", "rule", "message")
