"""Fixes to moto's KMS (numbered as in ``localcloud.motofixes``).

21. CloudFormation created an ``AWS::KMS::Key`` with its ``KeyPolicy`` kept as the object
    the template gives, where the KMS API keeps a key policy as JSON text: every call that
    checks the policy (``DescribeKey``, ``Encrypt``, ...) then failed with a 500
    (``json.loads`` of a dict), and ``GetKeyPolicy`` answered an object. The policy is
    stored as the JSON text the API takes, as ``CreateKey`` does
    (https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html#KMS-CreateKey-request-Policy).
"""

from __future__ import annotations

import json
from typing import Any


def apply() -> None:
    from moto.kms.models import Key

    original = Key.create_from_cloudformation_json
    if getattr(original, "_sdp_fix", False):
        return

    def create_from_cloudformation_json(
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json.get("Properties") or {}
        policy = properties.get("KeyPolicy")
        if policy is not None and not isinstance(policy, str):
            properties = {**properties, "KeyPolicy": json.dumps(policy)}
            cloudformation_json = {**cloudformation_json, "Properties": properties}
        return original(resource_name, cloudformation_json, account_id, region_name, **kwargs)

    create_from_cloudformation_json._sdp_fix = True  # type: ignore[attr-defined]
    Key.create_from_cloudformation_json = create_from_cloudformation_json  # type: ignore[method-assign]
