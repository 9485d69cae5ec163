"""Fixes to moto that the local cloud applies inside its moto server process.

Like ``rewrites.py`` for templates, this is the one place where the local cloud departs
from moto as released: one module per AWS service, each fix for one measured problem,
numbered, described in its module's docstring and covered by tests/unit/localcloud/.

 1. dynamodb
 2. stepfunctions
 3. events
 4. events
 5. sqs (and core: the module list)
 6. sqs (and core: RequestId)
 7. events
 8. core
 9. core (and events: deliveries)
10. dynamodb
11. dynamodb
12. dynamodb
13. dynamodb
14. dynamodb
15. xray
16. stepfunctions
17. events (the bus's Policy from CloudFormation)
18. events (PutEvents decided against the bus's policy; callers named by ``sts``)
19. stepfunctions (service integrations call with the state machine's role)
20. events (the whole envelope; TraceHeader as AWSTraceHeader)
21. kms

``apply()`` installs them all, once per process (the moto server calls it at start-up).
"""

from __future__ import annotations

_APPLIED = False


def apply() -> None:
    """Install the fixes (idempotent)."""
    global _APPLIED  # noqa: PLW0603 - patches are process-wide by nature
    if _APPLIED:
        return
    from localcloud import throughput
    from localcloud.motofixes import core, dynamodb, events, kms, sqs, stepfunctions, xray

    for module in (dynamodb, stepfunctions, events, sqs, core, xray, kms):
        module.apply()
    throughput.apply()  # tables' throughput emulation, when SDP_THROUGHPUT asks for it
    _APPLIED = True
