"""Event contracts: schemas, samples, compatibility, validation, bindings and registry.

See README.md beside this file.
"""
