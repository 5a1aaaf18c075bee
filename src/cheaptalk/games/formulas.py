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

from ..errors import FormulaError  # noqa: F401 (defined there, raised here)

__all__ = ["FormulaError", "Formula", "ALLOWED_FUNCTIONS"]


# name -> (function, number of arguments). Every call is checked against its number of
# arguments before anything runs: NumPy functions take an output array as an extra positional
# argument, and a formula must never write into the states or the action grid.
_FUNCTIONS = {
    "abs": (np.abs, 1),
    "min": (np.minimum, 2),
    "max": (np.maximum, 2),
    "exp": (np.exp, 1),
    "log": (np.log, 1),
    "sqrt": (np.sqrt, 1),
    "where": (np.where, 3),
    "clip": (np.clip, 3),
    "sign": (np.sign, 1),
    "floor": (np.floor, 1),
    "ceil": (np.ceil, 1),
}
ALLOWED_FUNCTIONS = {name: fn for name, (fn, _) in _FUNCTIONS.items()}

# a payoff formula is a line, not a program: bounded in length, nesting and literal size
MAX_FORMULA_LENGTH = 2000
MAX_FORMULA_DEPTH = 64
MAX_LITERAL = 1e15

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
        shown = self.text if len(self.text) <= 80 else self.text[:77] + "..."
        if len(self.text) > MAX_FORMULA_LENGTH:
            raise FormulaError(f"{where}: the formula is too long ({len(self.text)} characters; the limit is "
                               f"{MAX_FORMULA_LENGTH})")
        try:
            tree = ast.parse(self.text.strip(), mode="eval")
        except SyntaxError as exc:
            raise FormulaError(f"{where}: cannot parse {shown!r}: {exc.msg}") from None
        except (RecursionError, MemoryError):
            raise FormulaError(f"{where}: the formula {shown!r} is nested too deep to parse") from None
        self._tree = tree.body
        self._check(self._tree)

    def _check(self, node: ast.AST, depth: int = 0) -> None:
        if depth > MAX_FORMULA_DEPTH:
            raise FormulaError(f"{self.where}: the formula is nested too deep (more than {MAX_FORMULA_DEPTH} "
                               f"levels); write it more simply")
        known = self.variables | set(self.constants)
        check = lambda child: self._check(child, depth + 1)  # noqa: E731
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise FormulaError(f"{self.where}: only numbers are allowed as literals, got {node.value!r}")
            try:
                too_large = not abs(float(node.value)) <= MAX_LITERAL
            except OverflowError:
                too_large = True
            if too_large:
                raise FormulaError(f"{self.where}: the number {str(node.value)[:30]} is too large for a payoff "
                                   f"(the limit is {MAX_LITERAL:g})")
        elif isinstance(node, ast.Name):
            if node.id not in known:
                raise FormulaError(
                    f"{self.where}: unknown name {node.id!r} in {self.text!r}; "
                    f"allowed are {sorted(known)}")
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise FormulaError(f"{self.where}: operator {type(node.op).__name__} is not allowed")
            check(node.left)
            check(node.right)
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY:
                raise FormulaError(f"{self.where}: operator {type(node.op).__name__} is not allowed")
            check(node.operand)
        elif isinstance(node, ast.Compare):
            for op in node.ops:
                if type(op) not in _COMPARE:
                    raise FormulaError(f"{self.where}: comparison {type(op).__name__} is not allowed")
            check(node.left)
            for c in node.comparators:
                check(c)
        elif isinstance(node, ast.IfExp):
            for part in (node.test, node.body, node.orelse):
                check(part)
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in ALLOWED_FUNCTIONS:
                name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
                raise FormulaError(
                    f"{self.where}: function {name!r} is not allowed; "
                    f"allowed are {sorted(ALLOWED_FUNCTIONS)}")
            if node.keywords:
                raise FormulaError(f"{self.where}: keyword arguments are not allowed")
            arity = _FUNCTIONS[node.func.id][1]
            if len(node.args) != arity or any(isinstance(a, ast.Starred) for a in node.args):
                raise FormulaError(f"{self.where}: function {node.func.id!r} takes {arity} argument"
                                   f"{'s' if arity > 1 else ''}, got {len(node.args)}")
            for arg in node.args:
                check(arg)
        else:
            raise FormulaError(
                f"{self.where}: {type(node).__name__} is not allowed in a payoff formula {self.text!r}")

    def __call__(self, **values) -> np.ndarray:
        env = dict(self.constants)
        # copies: whatever a formula computes, the caller's arrays (states, actions) stay as they are
        env.update({k: np.array(v, dtype=float, copy=True) for k, v in values.items()})
        missing = self.variables - set(env)
        if missing:
            raise FormulaError(f"{self.where}: no value given for {sorted(missing)}")
        with np.errstate(all="ignore"):          # non-finite payoffs are refused by the game itself
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
            return _FUNCTIONS[node.func.id][0](*(self._eval(a, env) for a in node.args))
        raise FormulaError(f"{self.where}: cannot evaluate {type(node).__name__}")  # pragma: no cover

    def __repr__(self) -> str:
        return f"Formula({self.text!r})"
