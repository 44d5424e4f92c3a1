"""Errors a user can fix: the CLI prints their message on one line and exits with status 2.

Problems with one input record are never raised: they become error records
(`pipeline.io.schema.ParseError`) and the run goes on. These exceptions are for what stops
a command before or outside the records: a path, a model, the store.
"""
from __future__ import annotations


class UserError(Exception):
    """A mistake in what the user asked for; the message names the thing and what to do."""


class InputError(UserError):
    """An input path or option that cannot be used."""


class OutputError(UserError):
    """An output path that cannot be written (checked before any work starts)."""


class ModelError(UserError):
    """A ``--model`` that does not name a usable model."""


class StoreError(UserError):
    """The MLflow store has nothing of what was asked (no runs, experiment or alias)."""
