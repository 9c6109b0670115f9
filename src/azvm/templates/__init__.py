"""The ARM template language: a pure evaluator (parameters, variables, expressions, copy, conditions, dependencies).

`parse_jsonc` reads a deployment body or template; `prepare` checks a template with its parameters and plans its
resources; `Prepared.evaluate` gives each resource's body when the deployment reaches it, `Prepared.outputs` the
outputs. See docs/templates.md for what is supported and what is refused.
"""

from .errors import TemplateError
from .hashing import guid, template_hash, unique_string
from .jsonc import parse_jsonc
from .template import PlannedResource, Prepared, Reference, Scope, prepare

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
