"""The envelope of every domain event, marshalled to and from EventBridge.

It plays the part of the schema registry's generated ``Marshaller.marshall`` /
``unmarshall``, but typed and validating. The metadata (one object per batch) is
parsed into the generated pydantic model; ``data`` (hundreds of records) stays plain
dicts checked by the compiled jsonschema-rs validator of its contract version, so no
model is built per record on a service hop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import pydantic

from contracts.bindings.envelope_v1 import Metadata, Trace
from contracts.catalog import Kind, default_catalog
from contracts.errors import ContractError, UnknownContractError
from contracts.validation import (
    Violation,
    format_violations,
    get_data_validator,
    json_path,
    known_versions,
)

if TYPE_CHECKING:
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

__all__ = ["Envelope", "EnvelopeError", "Metadata", "Trace"]

_DETAIL_KEYS = frozenset({"metadata", "data"})
# pydantic error types → the JSON Schema rule they correspond to, so envelope
# violations read like record violations.
_RULES = {
    "missing": "required",
    "extra_forbidden": "additionalProperties",
    "string_pattern_mismatch": "pattern",
    "string_too_short": "minLength",
    "string_too_long": "maxLength",
    "greater_than_equal": "minimum",
    "less_than_equal": "maximum",
    "literal_error": "enum",
    "datetime_from_date_parsing": "format",
    "datetime_parsing": "format",
    "timezone_aware": "format",
}


class EnvelopeError(ContractError):
    """An event that is not a valid envelope of a known contract version."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        super().__init__(f"invalid envelope: {format_violations(violations)}")
        self.violations = list(violations)


@dataclass(frozen=True, slots=True)
class Envelope:
    """``detail`` of a domain event: batch metadata and the contract's data.

    An envelope a consumer merged from several deliveries keeps them in ``members``
    (see ``deliveries``): a service whose effects must not depend on how deliveries
    were grouped (store, aggregate) works per delivered batch."""

    metadata: Metadata
    data: dict[str, Any]
    members: tuple[Envelope, ...] = field(default=(), compare=False, repr=False)

    def deliveries(self) -> tuple[Envelope, ...]:
        """The envelopes as delivered: the merged ones, or this one alone."""
        return self.members or (self,)

    @property
    def contract(self) -> str:
        return self.metadata.contract

    @property
    def version(self) -> int:
        return self.metadata.version

    @classmethod
    def build(
        cls,
        contract: str,
        data: Mapping[str, Any],
        *,
        batch_id: str,
        record_count: int,
        version: int | None = None,
        attempt: int = 1,
        trace: Trace | None = None,
        parent_batch_id: str | None = None,
        replay_name: str | None = None,
        produced_at: datetime | None = None,
        producer: str | None = None,
        validate: bool = True,
    ) -> Envelope:
        """A new envelope, stamped with its producer: the contract's source unless
        ``producer`` names another of its sources (RecordsRejected comes from any stage).

        ``version`` defaults to the contract's latest. Raises UnknownContractError for
        a contract that is not a domain event of the catalog, EnvelopeError for bad
        metadata or (with ``validate``) data that breaks the contract.
        """
        spec = default_catalog().contract(contract)
        if spec.kind is not Kind.DOMAIN:
            raise UnknownContractError(f"{contract} is a record type, not a domain event")
        version = spec.latest if version is None else version
        default_catalog().require(contract, version)
        fields = {
            "contract": contract,
            "version": version,
            "batch_id": batch_id,
            "producer": producer or spec.source,
            "produced_at": produced_at or datetime.now(UTC),
            "attempt": attempt,
            "record_count": record_count,
            "trace": trace,
            "parent_batch_id": parent_batch_id,
            "replay_name": replay_name,
        }
        envelope = cls(_parse_metadata(fields), dict(data))
        envelope._check_contract()
        if validate:
            envelope._check_data()
        return envelope

    def derive(
        self,
        contract: str,
        data: Mapping[str, Any],
        *,
        batch_id: str,
        record_count: int,
        version: int | None = None,
        trace: Trace | None = None,
        producer: str | None = None,
        validate: bool = True,
    ) -> Envelope:
        """The envelope a service emits after handling this one: it names this batch as
        its parent and carries the replay name, and the trace unless given a new one,
        on to the next hop. ``validate`` as for ``build``."""
        return Envelope.build(
            contract,
            data,
            batch_id=batch_id,
            record_count=record_count,
            version=version,
            producer=producer,
            trace=trace or self.metadata.trace,
            parent_batch_id=self.metadata.batch_id,
            replay_name=self.metadata.replay_name,
            validate=validate,
        )

    @classmethod
    def from_event(cls, event: Mapping[str, Any], *, validate: bool = True) -> Envelope:
        """The envelope of an EventBridge event as delivered to a target.

        Metadata is always parsed and checked against the event's detail-type and
        source; ``validate=False`` skips only the check of ``data``, for a consumer
        that re-reads events it has validated before. Raises EnvelopeError.
        """
        detail = _detail_of(event)
        data = detail.get("data")
        violations = [
            Violation(json_path("$.detail", [key]), "additionalProperties: not allowed")
            for key in detail
            if key not in _DETAIL_KEYS
        ]
        if not isinstance(data, dict):
            raise EnvelopeError([*violations, Violation("$.detail.data", "type: expected object")])
        if violations:
            raise EnvelopeError(violations)
        envelope = cls(_parse_metadata(detail.get("metadata")), data)
        envelope._check_routing(event)
        if validate:
            envelope._check_contract()
            envelope._check_data()
        return envelope

    def to_detail(self) -> dict[str, Any]:
        return {
            "metadata": self.metadata.model_dump(mode="json", exclude_none=True),
            "data": self.data,
        }

    def detail_json(self) -> str:
        """Compact JSON: EventBridge bills and limits entries by size."""
        return orjson.dumps(self.to_detail()).decode()

    def to_entry(
        self, bus_name: str, *, trace_header: str | None = None
    ) -> PutEventsRequestEntryTypeDef:
        """A PutEvents entry; its source and detail-type are what the consumers' rules match."""
        entry: PutEventsRequestEntryTypeDef = {
            "Source": self.metadata.producer,
            "DetailType": self.metadata.contract,
            "Detail": self.detail_json(),
            "EventBusName": bus_name,
        }
        if trace_header:
            entry["TraceHeader"] = trace_header
        return entry

    def _check_routing(self, event: Mapping[str, Any]) -> None:
        violations = []
        if event.get("detail-type", self.contract) != self.contract:
            violations.append(
                Violation('$["detail-type"]', "enum: must equal detail.metadata.contract")
            )
        if event.get("source", self.metadata.producer) != self.metadata.producer:
            violations.append(Violation("$.source", "enum: must equal detail.metadata.producer"))
        if violations:
            raise EnvelopeError(violations)

    def _check_contract(self) -> None:
        """The metadata names a version of a domain contract, and one of its sources."""
        known = known_versions(Kind.DOMAIN)
        if self.contract not in known:
            reason = f"enum: {self.contract!r} is not a domain event of the catalog"
            raise EnvelopeError([Violation("$.detail.metadata.contract", reason)])
        if self.version not in known[self.contract]:
            reason = f"enum: {self.contract} has no version {self.version}"
            raise EnvelopeError([Violation("$.detail.metadata.version", reason)])
        sources = default_catalog().contract(self.contract).sources
        if self.metadata.producer not in sources:
            reason = f"enum: {self.contract} comes only from {', '.join(sources)}"
            raise EnvelopeError([Violation("$.detail.metadata.producer", reason)])

    def _check_data(self) -> None:
        validator = get_data_validator(self.contract, self.version)
        if not validator.is_valid(self.data):
            raise EnvelopeError(validator.errors(self.data))


def _detail_of(event: Any) -> dict[str, Any]:
    if not isinstance(event, Mapping):
        raise EnvelopeError([Violation("$", "type: expected an EventBridge event object")])
    detail = event.get("detail")
    if isinstance(detail, str | bytes):
        try:
            detail = orjson.loads(detail)
        except orjson.JSONDecodeError:
            raise EnvelopeError([Violation("$.detail", "type: not valid JSON")]) from None
    if not isinstance(detail, dict):
        raise EnvelopeError([Violation("$.detail", "type: expected object")])
    return detail


def _parse_metadata(raw: Any, root: str = "$.detail.metadata") -> Metadata:
    try:
        return Metadata.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise EnvelopeError(
            [
                Violation(
                    json_path(root, error["loc"]),
                    f"{_RULES.get(error['type'], error['type'])}: {error['msg']}",
                )
                for error in exc.errors(include_url=False, include_input=False)
            ]
        ) from None
