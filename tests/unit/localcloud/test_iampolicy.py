"""Resource policies decided as IAM decides them (localcloud/iampolicy.py)."""

from __future__ import annotations

from typing import Any

import pytest

from localcloud.iampolicy import PolicyError, Request, decide

ACCOUNT = "123456789012"
BUS = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/sdp-bus"
VALIDATE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/sdp/validate/sdp-validate-ValidateFunctionRole-X"
STORE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/sdp/store/sdp-store-StoreFunctionRole-Y"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def only_validate(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The platform's statement for sdp.validate, as deployed (intrinsics resolved)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "NoOtherPipelineSources",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "events:PutEvents",
                "Resource": BUS,
                "Condition": {
                    "StringLike": {"events:source": "sdp.*"},
                    "StringNotEquals": {"events:source": ["sdp.validate", "sdp.store"]},
                },
            },
            {
                "Sid": "OnlyValidatePublishesAsValidate",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "events:PutEvents",
                "Resource": BUS,
                "Condition": {
                    "StringEquals": {"events:source": "sdp.validate"},
                    "ArnNotLike": {
                        "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/sdp/validate/*"
                    },
                },
                **(extra or {}),
            },
        ],
    }


def put(source: str, principal: str = ROOT, account: str = ACCOUNT) -> Request:
    return Request(
        principal_arn=principal,
        account=account,
        action="events:PutEvents",
        resource=BUS,
        context={
            "events:source": source,
            "events:detail-type": "RecordsValidated",
            "aws:PrincipalArn": principal,
        },
    )


@pytest.mark.parametrize(
    ("source", "principal", "verdict", "statement"),
    [
        ("sdp.validate", ROOT, "deny", "OnlyValidatePublishesAsValidate"),
        ("sdp.validate", STORE_ROLE, "deny", "OnlyValidatePublishesAsValidate"),
        ("sdp.validate", VALIDATE_ROLE, "allow", None),
        ("sdp.store", STORE_ROLE, "allow", None),  # no statement of its own here
        ("sdp.hack", VALIDATE_ROLE, "deny", "NoOtherPipelineSources"),
        ("app.web", ROOT, "allow", None),
        ("sdp", ROOT, "allow", None),  # not sdp.*: a producer's business
    ],
)
def test_each_source_is_kept_to_its_roles(
    source: str, principal: str, verdict: str, statement: str | None
) -> None:
    decision = decide(only_validate(), put(source, principal), owner_account=ACCOUNT)
    assert (decision.verdict, decision.statement) == (verdict, statement)


def test_a_role_path_wildcard_does_not_reach_a_sibling_path() -> None:
    sibling = f"arn:aws:iam::{ACCOUNT}:role/sdp/validateX/evil"
    assert decide(only_validate(), put("sdp.validate", sibling), owner_account=ACCOUNT).verdict == (
        "deny"
    )


def test_another_account_needs_an_allow_and_a_deny_still_wins() -> None:
    other = "arn:aws:iam::999999999999:role/sdp/validate/x"
    assert decide(None, put("app.web", other, "999999999999"), owner_account=ACCOUNT).verdict == (
        "implicit-deny"
    )
    policy = only_validate()
    policy["Statement"].append(
        {
            "Sid": "PartnerAccount",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
            "Action": "events:PutEvents",
            "Resource": BUS,
        }
    )
    assert decide(policy, put("app.web", other, "999999999999"), owner_account=ACCOUNT).allowed
    # the partner's role sits under /sdp/validate/ of *its* account: still refused
    assert (
        decide(policy, put("sdp.validate", other, "999999999999"), owner_account=ACCOUNT).verdict
        == "deny"
    )


@pytest.mark.parametrize(
    ("condition", "context", "holds"),
    [
        ({"StringEquals": {"k": ["a", "b"]}}, {"k": "b"}, True),
        ({"StringEquals": {"k": "a"}}, {"k": "A"}, False),
        ({"StringEqualsIgnoreCase": {"k": "a"}}, {"k": "A"}, True),
        ({"StringNotEquals": {"k": ["a", "b"]}}, {"k": "c"}, True),
        ({"StringNotEquals": {"k": ["a", "b"]}}, {"k": "a"}, False),
        ({"StringLike": {"k": "a?c*"}}, {"k": "abcdef"}, True),
        ({"StringLike": {"k": "a?c"}}, {"k": "ac"}, False),
        ({"StringNotLike": {"k": "x*"}}, {"k": "abc"}, True),
        ({"ArnLike": {"k": "arn:aws:iam::*:role/a/*"}}, {"k": "arn:aws:iam::1:role/a/b/c"}, True),
        ({"ArnLike": {"k": "arn:aws:iam::1:role/a/*"}}, {"k": "arn:aws:sts::1:role/a/b"}, False),
        ({"ArnEquals": {"k": "arn:aws:iam::1:role/a"}}, {"k": "arn:aws:iam::1:role/a"}, True),
        ({"ArnNotEquals": {"k": "arn:aws:iam::1:role/a"}}, {"k": "arn:aws:iam::1:role/b"}, True),
        ({"Bool": {"k": "true"}}, {"k": "true"}, True),
        ({"Bool": {"k": True}}, {"k": "false"}, False),
        # a key missing from the request: positive operators fail, negated ones hold
        ({"StringEquals": {"missing": "a"}}, {}, False),
        ({"StringNotEquals": {"missing": "a"}}, {}, True),
        ({"ArnNotLike": {"missing": "arn:*"}}, {}, True),
        ({"StringEqualsIfExists": {"missing": "a"}}, {}, True),
        ({"StringEqualsIfExists": {"k": "a"}}, {"k": "b"}, False),
        ({"Null": {"missing": "true"}}, {}, True),
        ({"Null": {"k": "true"}}, {"k": "v"}, False),
        ({"ForAnyValue:StringEquals": {"k": ["a", "z"]}}, {"k": ["x", "z"]}, True),
        ({"ForAllValues:StringEquals": {"k": ["a", "z"]}}, {"k": ["a", "x"]}, False),
        ({"ForAllValues:StringEquals": {"missing": ["a"]}}, {}, True),
        ({"ForAnyValue:StringEquals": {"missing": ["a"]}}, {}, False),
        # keys are case-insensitive
        ({"StringEquals": {"EVENTS:Source": "a"}}, {"events:source": "a"}, True),
        # every operator and every key must hold
        ({"StringEquals": {"k": "a"}, "StringLike": {"j": "x*"}}, {"k": "a", "j": "y"}, False),
    ],
)
def test_condition_operators(
    condition: dict[str, Any], context: dict[str, Any], holds: bool
) -> None:
    policy = {
        "Statement": {
            "Sid": "S",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "events:*",
            "Resource": "*",
            "Condition": condition,
        }
    }
    request = Request(
        ROOT, ACCOUNT, "events:PutEvents", BUS, context, absent=frozenset({"missing"})
    )
    assert (decide(policy, request, owner_account=ACCOUNT).verdict == "deny") is holds


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ({"NotPrincipal": {"AWS": ROOT}}, "NotPrincipal"),
        ({"Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}}}, "DateGreaterThan"),
        ({"Condition": {"StringEquals": {"aws:PrincipalTag/team": "a"}}}, "condition key"),
        ({"Condition": {"StringEquals": {"events:source": "${aws:username}"}}}, "variables"),
        ({"Effect": "Maybe"}, "Effect"),
    ],
)
def test_what_is_not_evaluated_is_refused_loudly(statement: dict[str, Any], message: str) -> None:
    policy = {
        "Statement": [
            {"Sid": "S", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}
            | statement
        ]
    }
    with pytest.raises(PolicyError, match=message):
        decide(policy, put("sdp.validate"), owner_account=ACCOUNT)


def test_statements_of_other_actions_resources_or_principals_do_not_apply() -> None:
    deny = {"Sid": "S", "Effect": "Deny", "Principal": "*", "Action": "events:PutEvents"}
    for statement in (
        deny | {"Action": "events:PutRule", "Resource": BUS},
        deny | {"Resource": BUS.replace("sdp-bus", "other")},
        deny | {"Resource": BUS, "Principal": {"AWS": "111111111111"}},
        deny | {"Resource": BUS, "Principal": {"Service": "events.amazonaws.com"}},
    ):
        assert decide({"Statement": [statement]}, put("app.web"), owner_account=ACCOUNT).allowed
    # actions match case-insensitively and with wildcards; an account principal is all of it
    for statement in (
        deny | {"Action": "Events:put*", "Resource": "arn:aws:events:*:*:event-bus/*"},
        deny | {"Resource": BUS, "Principal": {"AWS": [ACCOUNT]}},
        deny | {"Resource": BUS, "Principal": {"AWS": "*"}},
    ):
        assert not decide({"Statement": [statement]}, put("app.web"), owner_account=ACCOUNT).allowed
