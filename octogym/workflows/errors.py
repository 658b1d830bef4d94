"""The error every workflow rule raises (its own module, so that parsing, validation and
frequencies can all raise or catch it without importing one another)."""

from __future__ import annotations


class WorkflowError(ValueError):
    """A workflow breaks a rule. ``source``, ``block`` and ``rule`` say where and what."""

    def __init__(self, source: str | None, block: str | None, rule: str, detail: str):
        self.source = source or "<workflow>"
        self.block = block
        self.rule = rule
        self.detail = detail
        where = self.source + (f": block '{block}'" if block is not None else "")
        super().__init__(f"{where}: [{rule}] {detail}")
