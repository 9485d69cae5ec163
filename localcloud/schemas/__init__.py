"""EventBridge Schemas on the local cloud: the schema registry API that moto lacks.

``SchemasMiddleware`` (``app.py``) answers the requests signed for the ``schemas``
service on the moto server's own endpoint and hands every other request to moto;
registries, schemas, versions and code bindings live in ``SchemasBackends``
(``backend.py``), in the server process's memory; ``cloudformation.py`` gives moto's
CloudFormation the ``AWS::EventSchemas::Registry`` and ``AWS::EventSchemas::Schema``
resource types, which write into the same registries. What is implemented and how it
differs from AWS: docs/schema-registry.md.
"""
