"""The cold-start baseline: a handler written the naive way, everything at import.

Eager Powertools Tracer (which patches every supported library through the X-Ray SDK's
``patch_all``), a boto3 resource, and jsonschema — what the project's handlers
deliberately avoid at import time.
"""

import boto3
import jsonschema
from aws_lambda_powertools import Logger, Metrics, Tracer

tracer = Tracer(service="naive")  # auto_patch: every library the SDK can patch
logger = Logger(service="naive")
metrics = Metrics(namespace="naive")
table = boto3.resource("dynamodb", region_name="us-east-1").Table("sdp-records")
validator = jsonschema.Draft4Validator({"type": "object"})


def handler(event, context):  # pragma: no cover - never invoked by the benchmark
    return validator.is_valid(event)
