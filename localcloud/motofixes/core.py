"""Fixes to moto's core: request handling and model bookkeeping (numbered as in
``localcloud.motofixes``).

8. moto keeps a reference to every model object it ever creates (``BaseModel.__new__``
   appends it to a class-level list, for its web dashboard): every SQS message sent, and
   the copy made of it on each receive, stayed in memory after deletion — the bulk of
   the server's memory after 100,000 records. The server does not track instances (the
   dashboard's ``/moto-api/data.json`` then lists none; nothing else reads the lists).
9. moto parses JSON request bodies, serialises JSON responses and renders each event it
   delivers to a queue with the standard library's ``json``: at 100,000 records, ~30%
   of the server's CPU went to encoding and decoding ~256 KB events. Those modules'
   ``json`` now parses and writes with orjson (falling back to ``json`` for what orjson
   refuses); delivered message bodies are compact UTF-8 JSON, as EventBridge writes them.
"""

from __future__ import annotations

import re
from typing import Any

import orjson


def _untracked_new(cls: Any, *args: Any, **kwargs: Any) -> Any:
    return object.__new__(cls)


_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class _Orjson:
    """``json`` for one of moto's modules: ``loads`` and plain ``dumps`` by orjson, the
    rest by the standard library, and so is what orjson refuses (NaN or Infinity in a
    text read, integers beyond 64 bits, non-string keys, datetimes). Text comes out
    compact and UTF-8, as AWS writes it, instead of with spaces after separators and
    \\u escapes: equal as JSON. (A NaN float written comes out null; moto makes none.)"""

    _PLAIN_DUMPS: tuple[dict[str, Any], ...] = ({}, {"indent": None}, {"separators": (",", ":")})

    def __init__(self, module: Any) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def loads(self, text: Any, *args: Any, **kwargs: Any) -> Any:
        if not args and not kwargs:
            try:
                return orjson.loads(text)
            except orjson.JSONDecodeError:
                pass  # what the standard library accepts and orjson does not, or an error
        return self._module.loads(text, *args, **kwargs)

    def dumps(self, value: Any, *args: Any, **kwargs: Any) -> str:
        if not args and kwargs in self._PLAIN_DUMPS:
            try:
                return orjson.dumps(value, option=_PASSTHROUGH).decode()
            except TypeError:
                pass
        return str(self._module.dumps(value, *args, **kwargs))


def enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
    from moto.utilities.aws_headers import gen_amzn_requestid_long

    if "status" in headers:
        headers["status"] = str(headers["status"])
    request_id = gen_amzn_requestid_long(headers)
    if isinstance(body, str) and "<RequestId>" in body:
        body = re.sub(r"(?<=<RequestId>).*(?=<\/RequestId>)", request_id, body)
    return headers, body


def apply() -> None:
    import moto.backends
    import moto.core.parse as core_parse
    import moto.core.serialize as core_serialize
    from moto.core.common_models import BaseModel
    from moto.core.responses import BaseResponse

    # 5. moto's service modules listed once, not on every request
    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules
    # 6. RequestId substituted in XML bodies only
    setattr(BaseResponse, "_enrich_response", staticmethod(enrich_response))  # noqa: B010
    # 8. no reference kept to every model object
    BaseModel.__new__ = _untracked_new  # type: ignore[method-assign]
    # 9. JSON by orjson where moto parses requests and serialises responses
    core_parse.json = _Orjson(core_parse.json)  # type: ignore[assignment]
    core_serialize.json = _Orjson(core_serialize.json)  # type: ignore[assignment]
