"""The execution environment's heap, settled once its first invocation is done.

A function's first invocation imports what the handler loads lazily (botocore and its
service models, the X-Ray SDK, Powertools, the contracts' validators) and builds its
clients: by the end of it the process holds hundreds of thousands of objects that live
as long as the environment. CPython's full collections walk all of them again and
again, pausing an invocation by 20-70 ms each time (measured in the local cloud's
workers). ``settle_once`` collects once and moves the survivors to the permanent
generation, which collections skip; what each later invocation allocates is collected
as usual. Called at the end of every handler; only the first call does anything.
"""

from __future__ import annotations

import gc

_state = {"settled": False}


def settle_once() -> bool:
    """Collect, then freeze what survived; True only on the call that did it."""
    if _state["settled"]:
        return False
    _state["settled"] = True
    gc.collect()
    gc.freeze()
    return True


def reset() -> None:
    """Back to unsettled, frozen objects returned to collection (for tests)."""
    _state["settled"] = False
    gc.unfreeze()
