"""Safe evaluation of payoff formulas written in game files.

A payoff such as ``110 - 10 * abs(a - s - b) ** 1.4`` is parsed with :mod:`ast` and
evaluated by walking the tree with NumPy. Only arithmetic, comparisons, conditional
expressions, whitelisted functions and known names are accepted; attribute access,
subscripts, lambdas, comprehensions and every other construct are rejected before
anything runs. Python's ``eval`` is never called.
"""

from __future__ import annotations

import ast
import operator
from typing import Mapping

import numpy as np

__all__ = ["FormulaError", "Formula", "ALLOWED_FUNCTIONS"]


class FormulaError(ValueError):
    """A payoff formula could not be parsed or uses something that is not allowed."""


ALLOWED_FUNCTIONS = {
    "abs": np.abs,
    "min": np.minimum,
    "max": np.maximum,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "where": np.where,
    "clip": np.clip,
    "sign": np.sign,
    "floor": np.floor,
    "ceil": np.ceil,
}

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: np.power,
    ast.Mod: np.mod,
    ast.FloorDiv: np.floor_divide,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_COMPARE = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}


class Formula:
    """A validated arithmetic expression in named variables.

    >>> Formula("110 - 10 * abs(a - s - b) ** 1.4", variables={"s", "a", "m"},
    ...         constants={"b": 1.0})(s=1.0, a=2.0, m=0.0)
    110.0
    """

    def __init__(self, text: str, variables: set[str], constants: Mapping[str, float] | None = None,
                 where: str = "formula"):
        self.text = str(text)
        self.where = where
        self.variables = set(variables)
        self.constants = dict(constants or {})
        try:
            tree = ast.parse(self.text.strip(), mode="eval")
        except SyntaxError as exc:
            raise FormulaError(f"{where}: cannot parse {self.text!r}: {exc.msg}") from None
        self._tree = tree.body
        self._check(self._tree)

    def _check(self, node: ast.AST) -> None:
        known = self.variables | set(self.constants)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise FormulaError(f"{self.where}: only numbers are allowed as literals, got {node.value!r}")
        elif isinstance(node, ast.Name):
            if node.id not in known:
                raise FormulaError(
                    f"{self.where}: unknown name {node.id!r} in {self.text!r}; "
                    f"allowed are {sorted(known)}")
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise FormulaError(f"{self.where}: operator {type(node.op).__name__} is not allowed")
            self._check(node.left)
            self._check(node.right)
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY:
                raise FormulaError(f"{self.where}: operator {type(node.op).__name__} is not allowed")
            self._check(node.operand)
        elif isinstance(node, ast.Compare):
            for op in node.ops:
                if type(op) not in _COMPARE:
                    raise FormulaError(f"{self.where}: comparison {type(op).__name__} is not allowed")
            self._check(node.left)
            for c in node.comparators:
                self._check(c)
        elif isinstance(node, ast.IfExp):
            for part in (node.test, node.body, node.orelse):
                self._check(part)
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in ALLOWED_FUNCTIONS:
                name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
                raise FormulaError(
                    f"{self.where}: function {name!r} is not allowed; "
                    f"allowed are {sorted(ALLOWED_FUNCTIONS)}")
            if node.keywords:
                raise FormulaError(f"{self.where}: keyword arguments are not allowed")
            for arg in node.args:
                self._check(arg)
        else:
            raise FormulaError(
                f"{self.where}: {type(node).__name__} is not allowed in a payoff formula {self.text!r}")

    def __call__(self, **values) -> np.ndarray:
        env = dict(self.constants)
        env.update(values)
        missing = self.variables - set(env)
        if missing:
            raise FormulaError(f"{self.where}: no value given for {sorted(missing)}")
        return np.asarray(self._eval(self._tree, env), dtype=float)

    def _eval(self, node, env):
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            return env[node.id]
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](self._eval(node.left, env), self._eval(node.right, env))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](self._eval(node.operand, env))
        if isinstance(node, ast.Compare):
            left = self._eval(node.left, env)
            result = True
            for op, comp in zip(node.ops, node.comparators):
                right = self._eval(comp, env)
                result = np.logical_and(result, _COMPARE[type(op)](left, right))
                left = right
            return result.astype(float)
        if isinstance(node, ast.IfExp):
            return np.where(self._eval(node.test, env), self._eval(node.body, env),
                            self._eval(node.orelse, env))
        if isinstance(node, ast.Call):
            return ALLOWED_FUNCTIONS[node.func.id](*(self._eval(a, env) for a in node.args))
        raise FormulaError(f"{self.where}: cannot evaluate {type(node).__name__}")  # pragma: no cover

    def __repr__(self) -> str:
        return f"Formula({self.text!r})"
