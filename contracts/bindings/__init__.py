"""Pydantic v2 models of every contract version, from `sdp contracts bindings`.

Do not edit: change the schema under contracts/schemas and regenerate. Each module's
root model is named after its contract (``page_view_v2.PageView``); ``envelope_v1``
holds the metadata every domain event carries.
"""
