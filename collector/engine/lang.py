"""The condition language: a whitelisted subset of Python expressions, checked and compiled once.

A rule's `when:` is operator input, so it is never handed to eval() as text. It is parsed
into an AST; every node must be of a kind in the whitelist, every name a fact of the rule's
subject, every call one of FUNCTIONS with the right argument types, and every operator
applied to the types it means something for (a string field compared with a number is an
error at load, not a silent False at 3 a.m.). The checked tree is then rewritten into a
lambda whose only free names are the fact mapping `F` and the history context `X`, and
compiled once: evaluating a rule costs about as much as the Python it reads like.

Why this and not CEL: the Rust CEL binding costs ~19 µs per evaluation with context
conversion and pure-Python CEL ~550 µs; this costs ~0.5 µs, reads like the Python that
support engineers see in scripts, and is as closed: no attribute, subscript, loop,
comprehension, lambda or assignment node survives the check, so an expression can only
read facts and call the functions below, and its work is bounded by its length.
"""

from __future__ import annotations

import ast
import enum
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class T(enum.StrEnum):
    NUM = "number"
    STR = "string"
    BOOL = "boolean"
    LIST = "list"


class LangError(ValueError):
    """A problem in an expression; `col` is the 0-based column in the expression text."""

    def __init__(self, message: str, col: int = 0) -> None:
        super().__init__(message)
        self.col = col


DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
MAX_WINDOW_MS = 30 * 86_400_000


def duration_ms(text: str) -> int:
    """'90s', '10m', '2h', '7d' → milliseconds (at most 30 days); ValueError otherwise."""
    m = DURATION.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"expected a duration such as 90s, 10m, 2h or 7d, got {text!r}")
    ms = int(float(m.group(1)) * _UNIT_MS[m.group(2)])
    if not 0 < ms <= MAX_WINDOW_MS:
        raise ValueError(f"duration {text!r} must be more than 0 and at most 30d")
    return ms


# What a function takes: each positional argument's kind, and whether keyword filters
# (event field = value) are allowed. Argument kinds: a value of a type, "field" (the name
# of a numeric field of the subject: a series), "kind" (an event-kind pattern literal),
# "window" (a duration literal), "name" (a string literal naming an event field).
@dataclass(frozen=True, slots=True)
class Function:
    args: tuple[str | T, ...]
    returns: T
    filters: bool = False
    variadic: bool = False  # min/max: one or more of args[0]
    subject: str = ""  # only for this subject (attr() is SMART-only)


FUNCTIONS: Mapping[str, Function] = {
    "len": Function((T.LIST,), T.NUM),
    "abs": Function((T.NUM,), T.NUM),
    "min": Function((T.NUM,), T.NUM, variadic=True),
    "max": Function((T.NUM,), T.NUM, variadic=True),
    "lower": Function((T.STR,), T.STR),
    "contains": Function((T.STR, T.STR), T.BOOL),
    "startswith": Function((T.STR, T.STR), T.BOOL),
    "endswith": Function((T.STR, T.STR), T.BOOL),
    "count": Function(("kind", "window"), T.NUM, filters=True),
    "distinct": Function(("kind", "window", "name"), T.NUM, filters=True),
    "last_seen": Function(("kind",), T.NUM, filters=True),
    "delta": Function(("field", "window"), T.NUM),
    "rate": Function(("field", "window"), T.NUM),
    "trend": Function(("field", "window"), T.NUM),
    "forecast": Function(("field", "window", "window"), T.NUM),
    "avg": Function(("field", "window"), T.NUM),
    "highest": Function(("field", "window"), T.NUM),
    "lowest": Function(("field", "window"), T.NUM),
    "samples": Function(("field", "window"), T.NUM),
    "field": Function(("name",), T.STR, subject="event"),
    "attr": Function((T.NUM,), T.NUM, subject="smart"),
    "attr_norm": Function((T.NUM,), T.NUM, subject="smart"),
    "attr_thresh": Function((T.NUM,), T.NUM, subject="smart"),
}
SERIES_FUNCTIONS = frozenset(n for n, f in FUNCTIONS.items() if "field" in f.args)
_PURE = {"len", "abs", "min", "max"}  # builtins, called directly

_COMPARE = {ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn}
_ORDER = {ast.Lt, ast.LtE, ast.Gt, ast.GtE}
_ARITH = {ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod}
_OP_TEXT = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%"}


@dataclass(frozen=True, slots=True)
class Compiled:
    source: str
    fn: Callable[[Mapping[str, Any], Any], Any]
    names: frozenset[str]  # facts read
    series: frozenset[str]  # subject fields read as series
    kinds: frozenset[str]  # event-kind patterns read
    windows_ms: frozenset[int]  # every window used (the history must reach the longest)


class _Checker:
    def __init__(self, facts: Mapping[str, T], subject: str) -> None:
        self.facts = facts
        self.subject = subject
        self.names: set[str] = set()
        self.series: set[str] = set()
        self.kinds: set[str] = set()
        self.windows: set[int] = set()

    def fail(self, node: ast.AST, message: str) -> LangError:
        return LangError(message, getattr(node, "col_offset", 0))

    def type_of(self, node: ast.expr) -> T:
        match node:
            case ast.Constant(value=bool()):
                return T.BOOL
            case ast.Constant(value=int() | float()):
                return T.NUM
            case ast.Constant(value=str()):
                return T.STR
            case ast.Name(id="true" | "false" | "True" | "False"):
                return T.BOOL
            case ast.Name(id=name):
                if name not in self.facts:
                    known = ", ".join(sorted(self.facts))
                    raise self.fail(
                        node, f"unknown name {name!r} for {self.subject}; known: {known}"
                    )
                self.names.add(name)
                return self.facts[name]
            case ast.BoolOp(values=values):
                for v in values:
                    self.want(v, T.BOOL, "and/or operand")
                return T.BOOL
            case ast.UnaryOp(op=ast.Not(), operand=operand):
                self.want(operand, T.BOOL, "not operand")
                return T.BOOL
            case ast.UnaryOp(op=ast.USub() | ast.UAdd(), operand=operand):
                self.want(operand, T.NUM, "sign operand")
                return T.NUM
            case ast.BinOp(left=left, op=op, right=right) if type(op) in _ARITH:
                lt, rt = self.type_of(left), self.type_of(right)
                if isinstance(op, ast.Add) and lt == rt == T.STR:
                    return T.STR
                if lt != T.NUM or rt != T.NUM:
                    raise self.fail(node, f"{_OP_TEXT[type(op)]} needs numbers, got {lt} and {rt}")
                return T.NUM
            case ast.Compare(left=left, ops=ops, comparators=rights):
                for cmp, l_node, r_node in zip(ops, [left, *rights], rights, strict=False):
                    self.compare(node, cmp, l_node, r_node)
                return T.BOOL
            case ast.IfExp(test=test, body=body, orelse=orelse):
                self.want(test, T.BOOL, "condition of `if`")
                bt, et = self.type_of(body), self.type_of(orelse)
                if bt != et:
                    raise self.fail(
                        node, f"both sides of `if ... else` must have one type, got {bt} and {et}"
                    )
                return bt
            case ast.Call():
                return self.call(node)
            case ast.List() | ast.Tuple():
                raise self.fail(node, "a list is only allowed after `in` / `not in`")
            case ast.Attribute():
                raise self.fail(node, "attribute access (x.y) is not allowed")
            case ast.Subscript():
                raise self.fail(node, "indexing (x[i]) is not allowed")
            case ast.Constant():
                raise self.fail(node, f"literal {node.value!r} is not allowed")
        raise self.fail(node, f"{type(node).__name__} is not allowed in a condition")

    def want(self, node: ast.expr, expected: T, what: str) -> None:
        got = self.type_of(node)
        if got != expected:
            raise self.fail(node, f"{what} must be a {expected}, got a {got}")

    def compare(self, node: ast.AST, op: ast.cmpop, left: ast.expr, right: ast.expr) -> None:
        if isinstance(op, ast.In | ast.NotIn):
            lt = self.type_of(left)
            if isinstance(right, ast.List | ast.Tuple):
                for item in right.elts:
                    it = self.type_of(item)
                    if not isinstance(item, ast.Constant) or it != lt:
                        raise self.fail(item, f"`in` list items must be {lt} literals")
                return
            rt = self.type_of(right)
            if rt == T.LIST and lt == T.STR or rt == T.STR and lt == T.STR:
                return
            raise self.fail(node, f"`in` needs a string in a list or string, got {lt} in {rt}")
        if type(op) not in _COMPARE:
            raise self.fail(node, "operator not allowed")
        lt, rt = self.type_of(left), self.type_of(right)
        if lt != rt:
            raise self.fail(node, f"cannot compare a {lt} with a {rt}")
        if type(op) in _ORDER and lt not in (T.NUM, T.STR):
            raise self.fail(node, f"<, <=, >, >= need numbers, got {lt}")

    def call(self, node: ast.Call) -> T:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise self.fail(node, f"unknown function {name!r}; known: {', '.join(FUNCTIONS)}")
        name = node.func.id
        fn = FUNCTIONS[name]
        if fn.subject and fn.subject != self.subject:
            raise self.fail(node, f"{name}() is only for `for_each: {fn.subject}` rules")
        if fn.variadic:
            if not node.args:
                raise self.fail(node, f"{name}() needs at least one argument")
            kinds: tuple[str | T, ...] = (fn.args[0],) * len(node.args)
        else:
            kinds = fn.args
            if len(node.args) != len(kinds):
                raise self.fail(
                    node, f"{name}() takes {len(kinds)} argument(s), got {len(node.args)}"
                )
        for arg, kind in zip(node.args, kinds, strict=True):
            self.argument(name, arg, kind)
        if node.keywords and not fn.filters:
            raise self.fail(node, f"{name}() takes no name=value filters")
        for kw in node.keywords:
            if kw.arg is None:
                raise self.fail(node, "**filters is not allowed")
            if self.type_of(kw.value) == T.LIST:
                raise self.fail(kw.value, f"filter {kw.arg}= needs a string, number or boolean")
        return fn.returns

    def argument(self, fname: str, arg: ast.expr, kind: str | T) -> None:
        if isinstance(kind, T):
            self.want(arg, kind, f"argument of {fname}()")
            return
        if kind == "field":
            if not isinstance(arg, ast.Name) or self.facts.get(arg.id) != T.NUM:
                raise self.fail(arg, f"{fname}() needs a numeric field of {self.subject} first")
            self.series.add(arg.id)
            return
        if not isinstance(arg, ast.Constant) or not isinstance(arg.value, str):
            raise self.fail(arg, f"{fname}() needs a quoted {kind} here")
        if kind == "window":
            try:
                self.windows.add(duration_ms(arg.value))
            except ValueError as exc:
                raise self.fail(arg, str(exc)) from None
        elif kind == "kind":
            check_pattern(arg.value)
            self.kinds.add(arg.value)


_KIND = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*(\.\*)?$|^\*$")


def check_pattern(pattern: str) -> None:
    for part in pattern.split("|"):
        if not _KIND.match(part):
            raise LangError(f"bad event kind pattern {part!r}: use disk.io_error, disk.* or a|b")


@functools.lru_cache(maxsize=4096)
def kind_matcher(pattern: str) -> Callable[[str], bool]:
    """'disk.io_error', 'disk.*', '*' or 'a|b' → a predicate on event kinds (cached: the
    engine asks again for every evaluation of a windowed condition)."""
    exact = {p for p in pattern.split("|") if not p.endswith("*")}
    prefixes = tuple(p[:-1] for p in pattern.split("|") if p.endswith("*"))
    return lambda kind: kind in exact or kind.startswith(prefixes)


class _Rewriter(ast.NodeTransformer):
    """Checked tree → code over F (facts) and X (history): names become F['name'], calls
    become X.fn(...) or builtins, durations become milliseconds, `/` never divides by zero."""

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if node.id in ("true", "True"):
            return ast.copy_location(ast.Constant(True), node)
        if node.id in ("false", "False"):
            return ast.copy_location(ast.Constant(False), node)
        sub = ast.Subscript(ast.Name("F", ast.Load()), ast.Constant(node.id), ast.Load())
        return ast.copy_location(sub, node)

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        self.generic_visit(node)
        if isinstance(node.op, ast.Div | ast.Mod):
            helper = "div" if isinstance(node.op, ast.Div) else "mod"
            call = ast.Call(_x(helper), [node.left, node.right], [])
            return ast.copy_location(call, node)
        return node

    def visit_Call(self, node: ast.Call) -> ast.expr:
        assert isinstance(node.func, ast.Name)
        name = node.func.id
        fn = FUNCTIONS[name]
        args: list[ast.expr] = []
        if name in SERIES_FUNCTIONS or fn.subject:
            args.append(ast.Name("F", ast.Load()))
        for arg, kind in zip(node.args, fn.args * len(node.args), strict=False):
            if kind == "field":
                assert isinstance(arg, ast.Name)
                args.append(ast.Constant(arg.id))
            elif kind == "window":
                assert isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                args.append(ast.Constant(duration_ms(arg.value)))
            else:
                args.append(self.visit(arg))
        keywords = [ast.keyword(k.arg, self.visit(k.value)) for k in node.keywords]
        # Builtins are called directly; every other function is the engine's (X.name).
        func: ast.expr = ast.Name(name, ast.Load()) if name in _PURE else _x(name)
        if fn.filters:
            # Filters travel as one dict so that a filter named like a parameter is fine.
            filters = ast.Dict([ast.Constant(k.arg) for k in keywords], [k.value for k in keywords])
            return ast.copy_location(ast.Call(func, [*args, filters], []), node)
        return ast.copy_location(ast.Call(func, args, keywords), node)


def _x(name: str) -> ast.expr:
    return ast.Attribute(ast.Name("X", ast.Load()), name, ast.Load())


_SAFE_BUILTINS = {"len": len, "abs": abs, "min": min, "max": max}


def compile_expression(
    text: str, facts: Mapping[str, T], subject: str, filename: str = "<rule>"
) -> Compiled:
    """Check and compile one condition; LangError says what is wrong and at which column."""
    if not isinstance(text, str) or not text.strip():
        raise LangError("expected a condition, such as used_pct >= 95")
    source = " ".join(text.split())  # YAML folded text: one line, so columns mean something
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise LangError(
            f"not a valid condition: {exc.msg}", max(0, (exc.offset or 1) - 1)
        ) from None
    checker = _Checker(facts, subject)
    result = checker.type_of(tree.body)
    if result != T.BOOL:
        raise LangError(f"a condition must be true or false, this is a {result}")
    body = _Rewriter().visit(tree.body)
    fn_tree = ast.Expression(
        ast.Lambda(
            ast.arguments([], [ast.arg("F"), ast.arg("X")], None, [], [], None, []),
            body,
        )
    )
    ast.fix_missing_locations(fn_tree)
    code = compile(fn_tree, filename, "eval")
    fn = eval(code, {"__builtins__": _SAFE_BUILTINS})
    return Compiled(
        source=source,
        fn=fn,
        names=frozenset(checker.names),
        series=frozenset(checker.series),
        kinds=frozenset(checker.kinds),
        windows_ms=frozenset(checker.windows),
    )
