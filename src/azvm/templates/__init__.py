"""The ARM template language: a pure evaluator (parameters, variables, expressions, copy, conditions, dependencies)."""
