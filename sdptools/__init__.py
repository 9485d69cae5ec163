"""Tooling around the pipeline: what runs on a developer's machine, never in a function."""
