"""The ARM template language: a pure evaluator (parameters, variables, expressions, copy, conditions, dependencies).

`parse_jsonc` reads a deployment body or template; `prepare` checks a template with its parameters and plans its
resources; `Prepared.evaluate` gives each resource's body when the deployment reaches it, `Prepared.outputs` the
outputs. See docs/templates.md for what is supported and what is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import loader

if TYPE_CHECKING:
    from .errors import TemplateError
    from .hashing import guid, template_hash, unique_string
    from .jsonc import parse_jsonc
    from .template import PlannedResource, Prepared, Reference, Scope, prepare

# the names load their modules when first used (PEP 562): lark, json5 and the grammar are imported
# by the first deployment, not by every `azvm serve` as it starts
_HOME = {"TemplateError": "errors", "guid": "hashing", "template_hash": "hashing", "unique_string": "hashing",
         "parse_jsonc": "jsonc", "PlannedResource": "template", "Prepared": "template", "Reference": "template",
         "Scope": "template", "prepare": "template"}


__getattr__ = loader(__name__, _HOME)


__all__ = [
    "PlannedResource",
    "Prepared",
    "Reference",
    "Scope",
    "TemplateError",
    "guid",
    "parse_jsonc",
    "prepare",
    "template_hash",
    "unique_string",
]
