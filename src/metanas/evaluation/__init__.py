"""Evaluation: architecture -> metrics."""

from metanas.evaluation.base import Evaluator, FunctionEvaluator, Result, Status, as_evaluator

__all__ = ["Evaluator", "FunctionEvaluator", "Result", "Status", "as_evaluator"]
