"""Publishing to and consuming from the event bus: the plumbing every service shares.

- :mod:`bus.packing`   records → envelopes under the entry size limit, deterministic batch ids
- :mod:`bus.publisher` PutEvents with batching, size limits and retries of failed entries
- :mod:`bus.consumer`  the SQS-batch loop of a consumer: parse, handle, publish, report failures
- :mod:`bus.tracecontext` the trace context carried across hops
"""
