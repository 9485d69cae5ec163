"""AWS hygiene as the local cloud deploys it: the encrypted alarm topic every stack's alarms
notify, and a record stored with its expiry and only the network of its address.

(moto's CloudFormation creates no alarms, lifecycle rules or TTL settings: those are
checked in the templates, tests/templates.)"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from localcloud.cloud import LocalCloud
from tests.e2e.test_pipeline import get_record, page_view

pytestmark = pytest.mark.e2e


def test_the_alarm_topic_is_encrypted_with_the_platforms_key_and_published(
    pipeline: LocalCloud,
) -> None:
    sns = pipeline.client("sns")
    arn = pipeline.client("ssm").get_parameter(Name="/sdp/alarms/topic-arn")["Parameter"]["Value"]
    assert arn.endswith(":sdp-alarms")
    key_id = sns.get_topic_attributes(TopicArn=arn)["Attributes"]["KmsMasterKeyId"]
    key = pipeline.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]
    assert key["KeyManager"] == "CUSTOMER" and key["Enabled"]
    policy = json.loads(
        pipeline.client("kms").get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    )
    cloudwatch = [
        s
        for s in policy["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert cloudwatch and set(cloudwatch[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    # no AlarmEmail given: no subscription
    assert sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"] == []


def test_a_record_is_stored_with_its_expiry_and_the_network_of_its_address(
    pipeline: LocalCloud,
) -> None:
    record_id = f"hyg-{uuid.uuid4().hex[:10]}"
    entry = {
        "EventBusName": "sdp-bus",
        "Source": "app.web",
        "DetailType": "PageView",
        "Detail": json.dumps(page_view(record_id, ip="81.2.69.142")),
    }
    assert pipeline.client("events").put_events(Entries=[entry])["FailedEntryCount"] == 0
    before = time.time()
    item = get_record(pipeline, record_id)
    assert item is not None
    doc = json.loads(item["doc"]["S"])
    assert doc["ip"] == "81.2.69.0"
    assert doc["enrichment"]["country"] == "GB"  # looked up before the address was cut
    days = (int(item["expires_at"]["N"]) - before) / 86_400
    assert 89.9 < days <= 90.01  # RECORDS_RETENTION_DAYS, the template's default
