"""No SQL is assembled from strings: every value reaches PostgreSQL as a bind parameter.

The Python check walks the syntax tree of every source file under ``plugins``, ``dags``,
``tools``, ``sandbox`` and ``tests``. It looks at what is handed to a database call
(``execute``, ``executemany``, ``copy`` and the DB-API hooks' query methods, or any
``sql=`` keyword), to ``sql(...)`` (h2j's loader of ``include/sql`` files) and to psycopg's
``SQL(...)``. Such an argument fails when it is an f-string with fields, ``%``-formatting,
``str.format``, ``str.join`` or a concatenation that is not made of literals only; a
name is followed to what was assigned to it in the same function or module. The one way
to put a name that varies into SQL is ``psycopg.sql.SQL("...").format(Identifier(...))``,
and its ``format`` arguments are checked too (``sql.Literal`` splices a value, so it fails).

The SQL check reads ``include/sql/**/*.sql`` for Python or Jinja placeholders such as
``{user}``, ``{0}`` or ``{{ params.x }}``, which only string formatting could fill in.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
PYTHON_DIRS = ("plugins", "dags", "tools", "sandbox", "tests")
SQL_DIR = ROOT / "include" / "sql"

QUERY_METHODS = frozenset(
    {
        "execute",
        "executemany",
        "copy",
        "read_sql",
        "read_sql_query",
        "get_records",
        "get_first",
        "get_pandas_df",
        "get_df",
    }
)
QUERY_KEYWORDS = frozenset({"sql", "query", "statement"})
LOADERS = frozenset({"sql", "SQL"})
COMPOSABLES = frozenset({"SQL", "Identifier", "Placeholder", "Composed"})
MAX_DEPTH = 8

PLACEHOLDER = re.compile(
    r"\{%|\{\s*(?:[A-Za-z_]\w*|\d+)?(?:\.\w+|\[[^\]\n]*\])*(?:![rsa])?(?::[^{}\n]*)?\s*\}"
)
EMPTY_ARRAY_LITERAL = "'{}'"


class Finding(NamedTuple):
    path: str
    line: int
    call: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.call}(...) gets {self.reason}"


def _called_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


class Scopes:
    """Where each name of one module was assigned, per enclosing function or module."""

    def __init__(self, tree: ast.Module) -> None:
        self.parent: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parent[child] = node
        self.tree = tree

    def enclosing(self, node: ast.AST) -> ast.AST:
        current = self.parent.get(node)
        while current is not None and not isinstance(
            current, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
        ):
            current = self.parent.get(current)
        return current or self.tree

    def values_of(self, name: ast.Name) -> list[ast.expr]:
        """What was assigned to ``name`` in its function, else at module level."""
        for scope in (self.enclosing(name), self.tree):
            found = list(_assigned(scope, name.id))
            if found:
                return found
        return []


def _assigned(scope: ast.AST, name: str) -> Iterator[ast.expr]:
    nodes = ast.walk(scope) if scope is not None else ()
    for node in nodes:
        if isinstance(node, ast.Assign) and node.value is not None:
            if any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                yield node.value
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and node.value is not None:
            target = node.target
            if isinstance(target, ast.Name) and target.id == name:
                yield _augmented(node) if isinstance(node, ast.AugAssign) else node.value


def _augmented(node: ast.AugAssign) -> ast.expr:
    """``q += x`` read as ``q + x``, so that it counts as a concatenation."""
    return ast.BinOp(left=ast.Name(id="_", ctx=ast.Load()), op=node.op, right=node.value)


class Checker:
    """Finds SQL built from strings in one module."""

    def __init__(self, tree: ast.Module, path: str) -> None:
        self.scopes = Scopes(tree)
        self.tree = tree
        self.path = path

    def findings(self) -> Iterator[Finding]:
        calls = [node for node in ast.walk(self.tree) if isinstance(node, ast.Call)]
        for node in sorted(calls, key=lambda call: (call.lineno, call.col_offset)):
            for argument in self._query_arguments(node):
                reason = self.built(argument, 0)
                if reason:
                    yield Finding(self.path, node.lineno, _called_name(node), reason)

    def _query_arguments(self, call: ast.Call) -> list[ast.expr]:
        name = _called_name(call)
        found = [kw.value for kw in call.keywords if kw.arg in QUERY_KEYWORDS]
        if (name in QUERY_METHODS or name in LOADERS) and call.args:
            found.append(call.args[0])
        if name == "format" and self.composable(call.func.value, 0):
            found.extend(call.args)
            found.extend(kw.value for kw in call.keywords)
        return found

    def composable(self, node: ast.expr, depth: int) -> bool:
        """Whether ``node`` is a psycopg ``sql`` object rather than a str."""
        if depth > MAX_DEPTH:
            return False
        if isinstance(node, ast.Name):
            return any(self.composable(v, depth + 1) for v in self.scopes.values_of(node))
        if not isinstance(node, ast.Call):
            return False
        name = _called_name(node)
        if name in COMPOSABLES:
            return True
        receiver = getattr(node.func, "value", None)
        return (
            name in ("format", "join")
            and receiver is not None
            and self.composable(receiver, depth + 1)
        )

    def built(self, node: ast.expr, depth: int) -> str | None:
        """Why ``node`` is SQL text assembled at run time, or None if it is not."""
        if depth > MAX_DEPTH:
            return None
        if isinstance(node, ast.JoinedStr):
            has_fields = any(isinstance(v, ast.FormattedValue) for v in node.values)
            return "an f-string" if has_fields else None
        if isinstance(node, ast.BinOp):
            return self._built_binop(node, depth)
        if isinstance(node, ast.IfExp):
            return self.built(node.body, depth + 1) or self.built(node.orelse, depth + 1)
        if isinstance(node, ast.Name):
            reasons = (self.built(v, depth + 1) for v in self.scopes.values_of(node))
            return next((r for r in reasons if r), None)
        if isinstance(node, ast.Call):
            return self._built_call(node, depth)
        return None

    def _built_binop(self, node: ast.BinOp, depth: int) -> str | None:
        if isinstance(node.op, ast.Mod):
            return "%-formatting"
        if isinstance(node.op, ast.Add) and not (_literal(node.left) and _literal(node.right)):
            return "a concatenation"
        return None

    def _built_call(self, node: ast.Call, depth: int) -> str | None:
        name = _called_name(node)
        if name == "Literal":
            return "sql.Literal, which splices a value into the text"
        if name in ("format", "join"):
            if self.composable(node.func.value, depth + 1):
                return None
            return f"str.{name}"
        if name == "SQL" and node.args:
            inner = self.built(node.args[0], depth + 1)
            return f"SQL() of {inner}" if inner else None
        return None


def _literal(node: ast.expr) -> bool:
    """A str literal, or literals joined by ``+``: fixed text, however it is spelled."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _literal(node.left) and _literal(node.right)
    return False


def lint_python(source: str, path: str = "<source>") -> list[Finding]:
    """Every place in ``source`` where SQL is built from strings."""
    return list(Checker(ast.parse(source, filename=path), path).findings())


def lint_sql(text: str, path: str = "<sql>") -> list[Finding]:
    """Every Python or Jinja placeholder in SQL text (an empty array ``'{}'`` is fine)."""
    cleaned = text.replace(EMPTY_ARRAY_LITERAL, "")
    return [
        Finding(path, cleaned.count("\n", 0, match.start()) + 1, "sql file", repr(match[0]))
        for match in PLACEHOLDER.finditer(cleaned)
    ]


def python_sources() -> list[Path]:
    return sorted(p for d in PYTHON_DIRS for p in (ROOT / d).rglob("*.py"))


def test_python_never_builds_sql_from_strings():
    sources = python_sources()
    findings = [
        finding
        for path in sources
        for finding in lint_python(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]

    assert len(sources) > 20, "the lint found almost no sources to read"
    assert not findings, "\n".join(map(str, findings))


def test_sql_files_hold_no_placeholders_for_string_formatting():
    files = sorted(SQL_DIR.rglob("*.sql"))
    findings = [
        finding
        for path in files
        for finding in lint_sql(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]

    assert files, "include/sql holds no SQL files"
    assert not findings, "\n".join(map(str, findings))


BAD_PYTHON = """
from psycopg import sql as pgsql
from h2j.sql import sql

def load(conn, cur, table, user, hook):
    conn.execute(f"SELECT * FROM t WHERE user = '{user}'")
    cur.execute("DELETE FROM t WHERE id = %s" % user)
    cur.execute("SELECT * FROM {}".format(table))
    cur.execute("SELECT * FROM t WHERE id = " + str(user))
    query = "SELECT * FROM t WHERE a = '%s'" % user
    conn.execute(query)
    text = "SELECT 1"
    text += " WHERE " + user
    cur.executemany(text, [])
    cur.copy(f"COPY {table} FROM STDIN")
    sql(f"ledger_{table}")
    conn.execute(pgsql.SQL(f"SELECT * FROM {table}"))
    conn.execute(pgsql.SQL("SELECT {}").format(pgsql.Literal(user)))
    hook.get_records(sql=", ".join([user]))
    conn.execute(("SELECT 1" if user else f"SELECT {user}"))
"""

GOOD_PYTHON = """
from psycopg import sql as pgsql
from h2j.sql import sql

QUERY = "SELECT entry_id FROM h2j.ledger " "WHERE state = 'synced'"

def load(conn, cur, name, user):
    conn.execute(sql("ledger_row"), {"user_id": user})
    conn.execute(QUERY)
    cur.execute("SELECT 1 " + "WHERE true")
    conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    statement = pgsql.SQL("DROP TABLE {}").format(pgsql.Identifier("h2j", name))
    conn.execute(statement)
    columns = pgsql.SQL(", ").join(pgsql.Identifier(c) for c in ("a", "b"))
    conn.execute(pgsql.SQL("SELECT {} FROM t").format(columns))
    with cur.copy(sql("staging_copy")) as copy:
        copy.write_row((1, 2))
    conn.execute(f"SELECT 1")
    other = {}.copy()
"""


def test_lint_flags_each_way_of_building_sql():
    findings = lint_python(BAD_PYTHON)

    assert [(f.line, f.call) for f in findings] == [
        (6, "execute"),
        (7, "execute"),
        (8, "execute"),
        (9, "execute"),
        (11, "execute"),
        (14, "executemany"),
        (15, "copy"),
        (16, "sql"),
        (17, "execute"),
        (17, "SQL"),
        (18, "format"),
        (19, "get_records"),
        (20, "execute"),
    ], "\n".join(map(str, findings))


def test_lint_accepts_bind_parameters_literals_and_identifiers():
    assert lint_python(GOOD_PYTHON) == []


def test_sql_lint_flags_python_and_jinja_placeholders_only():
    text = (
        "SELECT * FROM h2j.ledger WHERE user_id = {user_id}\n"
        "AND run = '{{ run_id }}' AND day = {0} AND x = {}\n"
        "AND tags = '{}' AND ids = '{1,2}' AND a = %(a)s AND b = ANY (%(b)s)\n"
        "{% if dry_run %}\n"
    )

    found = [(f.line, f.reason) for f in lint_sql(text)]

    assert found == [
        (1, "'{user_id}'"),
        (2, "'{ run_id }'"),
        (2, "'{0}'"),
        (2, "'{}'"),
        (4, "'{%'"),
    ]
