"""Who a request comes from, as the fixes that enforce a policy need it.

moto accepts any credentials and issues real-looking ones (``AssumeRole`` returns an
``ASIA...`` access key id that it records with the role it was issued for), but it never
asks who is calling. The local cloud gives every function worker the credentials of its
own execution role (``localcloud/runtime.py`` calls ``AssumeRole`` for it, as Lambda
does), and Step Functions' calls carry the state machine's role (fix 19), so the access
key id of a request's SigV4 ``Authorization`` header names its principal:

- a key moto issued through ``AssumeRole``: the role's ARN, path included, which is what
  the ``aws:PrincipalArn`` condition key holds for a role session
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn);
- a key of an IAM user: the user's ARN;
- any other key (the documented local credentials ``testing``/``testing`` that
  ``sdp local up`` prints for the ``aws`` CLI): the account's root, which is what moto
  treats it as.

Nothing here changes moto's STS; the module only reads what moto recorded.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

_ROLE_SESSIONS: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Principal:
    arn: str
    account: str


def principal_of(access_key_id: str, account_id: str, partition: str = "aws") -> Principal:
    """The principal behind an access key id, as moto recorded it."""
    from moto.iam.models import iam_backends

    key = iam_backends[account_id][partition].access_keys.get(access_key_id)
    role_arn = getattr(key, "role_arn", None)
    if role_arn:
        return Principal(str(role_arn), account_id)
    user = getattr(key, "user_name", None)
    if user:
        found = iam_backends[account_id][partition].users.get(user)
        arn = found.arn if found is not None else f"arn:{partition}:iam::{account_id}:user/{user}"
        return Principal(str(arn), account_id)
    return Principal(f"arn:{partition}:iam::{account_id}:root", account_id)


def role_credentials(role_arn: str, account_id: str, region: str, session: str) -> Any:
    """Credentials of a role for calls the local cloud makes on a service's behalf (Step
    Functions' service integrations), issued by moto's STS once per role and session name
    and kept: moto's assumed roles are never checked for expiry."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends
    from moto.utilities.utils import get_partition

    with _LOCK:
        found = _ROLE_SESSIONS.get((role_arn, session))
        keys = iam_backends[account_id][get_partition(region)].access_keys
        if found is None or found.access_key_id not in keys:  # none yet, or moto was reset
            backend = sts_backends[account_id][get_partition(region)]
            found = backend.assume_role(
                region_name=region,
                role_session_name=session,
                role_arn=role_arn,
                policy=None,  # type: ignore[arg-type]  # moto's default: no session policy
                duration=43200,
                external_id=None,  # type: ignore[arg-type]
            )
            _ROLE_SESSIONS[(role_arn, session)] = found
        return found
