"""Fixes to moto's Step Functions (numbered as in ``localcloud.motofixes``).

2. With real execution on (``stepfunctions.execute_state_machine``), moto serves the
   Step Functions API from its executing backend, but CloudFormation creates state
   machines in the other one, so a state machine from a template "does not exist". The
   executing backend becomes the one CloudFormation writes to.
"""

from __future__ import annotations


def apply() -> None:
    import moto.stepfunctions.models as sfn_models
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    sfn_models.stepfunctions_backends = stepfunctions_parser_backends  # type: ignore[assignment]
