"""Read-only SQL over the lake: the engine behind `datastore_search_sql` and the SQL endpoint.

CKAN's `datastore_search_sql` is the model, made stricter. A query goes through two independent layers:

1. **Validation** (`referenced_tables`, sqlglot, DuckDB dialect). Exactly one statement, and it must be a
   query (SELECT, WITH ... SELECT, UNION / INTERSECT / EXCEPT of those). Every syntax node must be of a
   kind on an allow-list; every function must be on `ALLOWED_FUNCTIONS`; every table must be a plain,
   unqualified name — a CTE in scope or a table the caller permits. Table functions (other than the pure
   number generators `range` / `generate_series` and `unnest`), file paths, schema-qualified names and the
   system catalogs are refused. The statement that runs is sqlglot's rendering of the validated tree with
   comments dropped, so what was checked is what runs; that rendering is validated once more, and
   DuckDB's own parser must read it as exactly one SELECT (no parser-differential tricks).
2. **Sandbox** (`run_sql`). A fresh in-memory DuckDB per query: one VIEW per permitted table over
   `read_parquet('<file>')`; then `allowed_paths` = exactly those files, external access off, no extension
   loading, no spilling to disk, a memory limit and a thread count, and finally the configuration is
   locked. Even SQL that bypassed layer 1 cannot read other files, write files, attach databases or
   change the settings. A timer interrupts the query at the time limit; at most `row_limit + 1` rows are
   fetched (the result is streamed, never materialised in full); the connection is closed afterwards.

Results are JSON-safe: dates and times as ISO strings (time-zone-aware ones in UTC, "+00:00"), decimals
as floats, NaN/Infinity as null, BLOBs as hex, UUIDs as strings, lists and structs as lists and dicts.
Table names are matched case-insensitively (as DuckDB binds them); `referenced_tables` returns them as
written. Names that look like paths (a slash, a file extension) are refused, so aliases must not.

Errors are `SqlError`, with an HTTP-like status, a stable code and a Vietnamese and an English message.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

DIALECT = "duckdb"
MAX_SQL_LENGTH = 20_000
MAX_NODES = 20_000
MAX_TABLE_NAME_LENGTH = 200

# ---------------------------------------------------------------------------------------------------------
# The allow-list of functions (DuckDB names, lower case).
# ---------------------------------------------------------------------------------------------------------

MATH_FUNCTIONS = frozenset({
    "abs", "ceil", "ceiling", "floor", "round", "trunc", "sign", "sqrt", "cbrt", "exp", "ln", "log",
    "log2", "log10", "pow", "power", "mod", "greatest", "least", "pi", "degrees", "radians", "sin",
    "cos", "tan", "asin", "acos", "atan", "atan2", "gcd", "lcm", "isnan", "isinf", "isfinite",
})
STRING_FUNCTIONS = frozenset({
    "lower", "upper", "lcase", "ucase", "length", "char_length", "strlen", "substr", "substring", "left",
    "right", "replace", "trim", "ltrim", "rtrim", "strip_accents", "concat", "concat_ws",
    "regexp_matches", "regexp_replace", "regexp_extract", "regexp_full_match", "contains", "starts_with",
    "ends_with", "prefix", "suffix", "position", "instr", "strpos", "lpad", "rpad", "reverse", "repeat",
    "split_part", "string_split", "format", "printf", "ascii", "chr", "levenshtein",
    "jaro_winkler_similarity", "nfc_normalize",
})
DATE_FUNCTIONS = frozenset({
    "date_trunc", "date_part", "datepart", "extract", "strftime", "strptime", "try_strptime", "make_date",
    "make_timestamp", "date_diff", "datediff", "date_add", "date_sub", "epoch", "epoch_ms",
    "to_timestamp", "year", "month", "day", "hour", "minute", "second", "dayofweek", "dayofyear", "week",
    "weekofyear", "quarter", "isodow", "isoyear", "last_day", "monthname", "dayname", "age",
    "current_date", "today", "current_timestamp", "now",
})
AGGREGATE_FUNCTIONS = frozenset({
    "count", "sum", "avg", "mean", "min", "max", "median", "quantile", "quantile_cont", "quantile_disc",
    "percentile_cont", "percentile_disc", "approx_quantile", "stddev", "stddev_samp", "stddev_pop",
    "variance", "var_samp", "var_pop", "mode", "string_agg", "group_concat", "listagg", "count_if",
    "bool_and", "bool_or", "first", "last", "any_value", "arg_min", "arg_max", "argmin", "argmax",
    "approx_count_distinct", "corr", "covar_pop", "covar_samp", "product", "array_agg", "list",
    "entropy", "kurtosis", "skewness", "regr_slope", "regr_intercept", "regr_r2",
})
WINDOW_FUNCTIONS = frozenset({
    "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
    "first_value", "last_value", "nth_value",
})
CONDITIONAL_FUNCTIONS = frozenset({
    "cast", "try_cast", "coalesce", "nullif", "ifnull", "if", "typeof",
})
LIST_FUNCTIONS = frozenset({"unnest", "array_length", "list_contains"})
# Pure table functions: they generate numbers/dates and touch nothing outside the query.
TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})

ALLOWED_FUNCTIONS: frozenset[str] = (
    MATH_FUNCTIONS | STRING_FUNCTIONS | DATE_FUNCTIONS | AGGREGATE_FUNCTIONS | WINDOW_FUNCTIONS
    | CONDITIONAL_FUNCTIONS | LIST_FUNCTIONS | TABLE_FUNCTIONS
)

# Syntax that sqlglot models as a function node but that is an operator or a literal in SQL.
_SYNTAX_FUNC_CLASSES: frozenset[type] = frozenset({
    exp.And, exp.Or, exp.Case, exp.If, exp.Cast, exp.TryCast, exp.Extract, exp.Array, exp.Struct, exp.Exists,
    exp.Collate, exp.Xor, exp.Coalesce, exp.Nullif, exp.Unnest, exp.Explode,
})
# sqlglot function classes that must never be allowed, whatever they were parsed from.
_DENIED_FUNC_CLASSES: frozenset[type] = frozenset({exp.ReadCSV, exp.ReadParquet, exp.Columns})
# Function nodes that carry the name the user wrote: checked by name, never by class.
_NAMED_FUNC_CLASSES: tuple[type, ...] = (exp.Anonymous, exp.AnonymousAggFunc, exp.ParameterizedAgg)


@functools.cache
def _allowed_func_classes() -> frozenset[type]:
    """The sqlglot classes that the allowed names parse to (sqlglot types many DuckDB functions).

    Whatever arity is tried, the class renders back to the same SQL function, so allowing the class is
    allowing the name. A class on the deny list here is a bug in the allow-list and fails loudly.
    """
    classes: set[type] = set()
    for name in ALLOWED_FUNCTIONS - {"cast", "try_cast", "extract"}:
        for args in ("", "a", "a, b", "a, b, c"):
            try:
                tree = sqlglot.parse_one(f"SELECT {name}({args})", read=DIALECT)
            except (ParseError, TokenError, ValueError, TypeError):
                continue
            for node in tree.walk():
                if isinstance(node, exp.Func) and not isinstance(node, _NAMED_FUNC_CLASSES):
                    classes.add(type(node))
    bad = classes & _DENIED_FUNC_CLASSES
    if bad:
        raise RuntimeError(f"the function allow-list maps to denied classes {bad}")
    return frozenset(classes | _SYNTAX_FUNC_CLASSES)


# Non-function syntax nodes a query may contain, matched by exact class. Anything else (INTO, FOR UPDATE,
# placeholders, lambdas, PIVOT, time travel, COLUMNS(...), OPERATOR(...), ...) is refused.
_ALLOWED_NODE_TYPES: frozenset[type] = frozenset({
    exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery, exp.With, exp.CTE, exp.TableAlias,
    exp.From, exp.Join, exp.Lateral, exp.Where, exp.Group, exp.Rollup, exp.Cube, exp.GroupingSets,
    exp.Having, exp.Qualify, exp.Order, exp.Ordered, exp.Limit, exp.Offset, exp.Fetch, exp.LimitOptions,
    exp.Distinct, exp.Table, exp.Identifier, exp.Column, exp.Star, exp.Alias, exp.Aliases, exp.Values,
    exp.Tuple, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Neg, exp.Not, exp.BitwiseNot, exp.In,
    exp.Between, exp.Any, exp.All, exp.Bracket, exp.Slice, exp.DataType, exp.DataTypeParam,
    exp.Interval, exp.Var, exp.Window, exp.WindowSpec, exp.Filter, exp.WithinGroup, exp.IgnoreNulls,
    exp.RespectNulls, exp.TableSample, exp.PropertyEQ,
    # operators
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT,
    exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ, exp.Is, exp.Like, exp.ILike, exp.Glob, exp.SimilarTo,
    exp.Escape, exp.DPipe, exp.Dot, exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseLeftShift,
    exp.BitwiseRightShift,
})

_SYSTEM_PREFIXES = ("duckdb_", "pragma_", "sqlite_", "pg_", "information_schema")

_STATEMENT_NAMES: dict[type, str] = {
    exp.Insert: "INSERT", exp.Update: "UPDATE", exp.Delete: "DELETE", exp.Merge: "MERGE",
    exp.Create: "CREATE", exp.Drop: "DROP", exp.Alter: "ALTER", exp.Copy: "COPY", exp.Attach: "ATTACH",
    exp.Detach: "DETACH", exp.Pragma: "PRAGMA", exp.Set: "SET", exp.Install: "INSTALL",
    exp.Use: "USE", exp.Describe: "DESCRIBE", exp.Summarize: "SUMMARIZE", exp.Show: "SHOW",
    exp.Transaction: "BEGIN", exp.Commit: "COMMIT", exp.Rollback: "ROLLBACK", exp.Pivot: "PIVOT",
    exp.TruncateTable: "TRUNCATE",
}


# ---------------------------------------------------------------------------------------------------------
# Errors and results
# ---------------------------------------------------------------------------------------------------------

_TITLES: dict[int, tuple[str, str]] = {
    400: ("Truy vấn SQL không hợp lệ", "Invalid SQL query"),
    403: ("Truy vấn SQL không được phép", "SQL query not allowed"),
    404: ("Không tìm thấy bảng", "Table not found"),
    408: ("Truy vấn quá thời gian", "Query timed out"),
    413: ("Truy vấn SQL quá dài", "SQL query too long"),
    422: ("Truy vấn vượt giới hạn bộ nhớ", "Query exceeded the memory limit"),
    500: ("Lỗi khi chạy truy vấn", "Query engine error"),
    503: ("Dữ liệu tạm thời không sẵn sàng", "Data temporarily unavailable"),
}


class SqlError(Exception):
    """A refused or failed query: HTTP-like `status`, stable `code`, messages in Vietnamese and English."""

    def __init__(self, status: int, code: str, vi: str, en: str, **extra: Any) -> None:
        self.status = status
        self.code = code
        self.vi = vi
        self.en = en
        self.extra = extra
        super().__init__(en)

    @property
    def title(self) -> tuple[str, str]:
        return _TITLES.get(self.status, _TITLES[400])

    def to_problem(self) -> Any:
        """The same error as a `cityai.core.errors.Problem` (RFC 9457 in the web layer)."""
        from cityai.core.errors import Problem

        return Problem(self.status, self.code, self.title, (self.vi, self.en), **self.extra)

    def __repr__(self) -> str:
        return f"SqlError({self.status}, {self.code!r}, {self.en!r})"


@dataclass
class SqlResult:
    columns: list[str]
    types: list[str]
    rows: list[list] = field(default_factory=list)
    truncated: bool = False
    elapsed_ms: float = 0.0


# ---------------------------------------------------------------------------------------------------------
# Layer 1: validation
# ---------------------------------------------------------------------------------------------------------


def _statement_name(node: exp.Expression) -> str:
    for cls, name in _STATEMENT_NAMES.items():
        if isinstance(node, cls):
            if isinstance(node, exp.Create):
                kind = str(node.args.get("kind") or "").upper()
                return f"CREATE {kind}".strip()
            if isinstance(node, exp.Drop):
                kind = str(node.args.get("kind") or "").upper()
                return f"DROP {kind}".strip()
            return name
    return ""


# First words of statements that are not queries (for the message when sqlglot cannot parse them).
_STATEMENT_KEYWORDS = frozenset({
    "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "REPLACE", "CREATE", "DROP", "ALTER", "TRUNCATE",
    "COPY", "EXPORT", "IMPORT", "ATTACH", "DETACH", "USE", "PRAGMA", "SET", "RESET", "INSTALL", "LOAD",
    "FORCE", "UPDATE", "CALL", "EXECUTE", "PREPARE", "DEALLOCATE", "DESCRIBE", "SUMMARIZE", "SHOW",
    "EXPLAIN", "BEGIN", "START", "COMMIT", "ROLLBACK", "ABORT", "END", "CHECKPOINT", "VACUUM", "ANALYZE",
    "GRANT", "REVOKE", "COMMENT", "PIVOT", "UNPIVOT",
})


def _first_keyword(sql: str) -> str:
    m = re.match(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*([A-Za-z_]+)", sql, re.DOTALL)
    return m.group(1).upper() if m else "?"


def _parse(sql: str, max_length: int = MAX_SQL_LENGTH) -> exp.Query:
    if not isinstance(sql, str) or not sql.strip():
        raise SqlError(400, "sql-empty", "Câu lệnh SQL trống.", "The SQL statement is empty.")
    if len(sql) > max_length:
        raise SqlError(413, "sql-too-long",
                       f"Câu lệnh SQL dài {len(sql)} ký tự, vượt giới hạn {max_length} ký tự.",
                       f"The SQL statement is {len(sql)} characters long, over the limit of "
                       f"{max_length}.", limit=max_length)
    if "\x00" in sql:
        raise SqlError(400, "sql-syntax", "Câu lệnh SQL chứa ký tự NUL.", "The SQL statement contains a NUL "
                       "character.")
    try:
        parsed = sqlglot.parse(sql, read=DIALECT)
    except (ParseError, TokenError) as e:
        kind = _first_keyword(sql)
        if kind in _STATEMENT_KEYWORDS:
            raise SqlError(403, "sql-read-only",
                           f"Chỉ cho phép truy vấn đọc (SELECT); câu lệnh {kind} bị từ chối.",
                           f"Only read queries (SELECT) are allowed; {kind} statements are refused.",
                           statement=kind) from None
        msg = str(e).splitlines()[0][:300]
        raise SqlError(400, "sql-syntax", f"Lỗi cú pháp SQL: {msg}", f"SQL syntax error: {msg}") from None
    except RecursionError:
        raise SqlError(400, "sql-too-complex", "Câu lệnh SQL lồng nhau quá sâu.",
                       "The SQL statement is nested too deeply.") from None
    statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
    if not statements:
        raise SqlError(400, "sql-empty", "Câu lệnh SQL trống.", "The SQL statement is empty.")
    if len(statements) > 1:
        raise SqlError(400, "sql-multiple-statements",
                       f"Chỉ được gửi một câu lệnh; nhận được {len(statements)} câu lệnh.",
                       f"Only one statement is allowed; got {len(statements)}.", statements=len(statements))
    tree = statements[0]
    if not isinstance(tree, (exp.Select, exp.Union, exp.Intersect, exp.Except)):
        kind = _statement_name(tree) or _first_keyword(sql)
        raise SqlError(403, "sql-read-only",
                       f"Chỉ cho phép truy vấn đọc (SELECT); câu lệnh {kind} bị từ chối.",
                       f"Only read queries (SELECT) are allowed; {kind} statements are refused.",
                       statement=kind)
    return tree


def _function_name(node: exp.Func) -> str:
    """The function's name as DuckDB will see it (sqlglot's own class name may differ)."""
    if isinstance(node, _NAMED_FUNC_CLASSES):
        return str(node.name).lower()
    try:
        m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", node.sql(dialect=DIALECT, comments=False))
    except Exception:  # noqa: BLE001 - rendering is best effort, for the message only
        m = None
    return (m.group(1) if m else node.sql_name()).lower()


def _refuse_function(name: str) -> SqlError:
    return SqlError(403, "sql-function-not-allowed",
                    f"Hàm '{name}' không nằm trong danh sách hàm được phép.",
                    f"The function '{name}' is not on the list of allowed functions.", function=name)


def _check_function(node: exp.Func) -> None:
    if isinstance(node, _NAMED_FUNC_CLASSES):
        name = _function_name(node)
        if name not in ALLOWED_FUNCTIONS:
            raise _refuse_function(name)
        return
    if type(node) not in _allowed_func_classes():
        raise _refuse_function(_function_name(node))


def _check_table_function(node: exp.Expression) -> None:
    """A function in FROM position: only the pure generators are allowed."""
    name = _function_name(node) if isinstance(node, exp.Func) else type(node).__name__.lower()
    allowed = isinstance(node, (exp.GenerateSeries, exp.Unnest, exp.Explode)) or (
        isinstance(node, exp.Anonymous) and name in TABLE_FUNCTIONS)
    if not allowed:
        raise SqlError(403, "sql-table-function-not-allowed",
                       f"Không được dùng hàm bảng '{name}' (chỉ đọc được các bảng dữ liệu được cấp quyền).",
                       f"The table function '{name}' is not allowed (only permitted data tables can be "
                       "read).", function=name)


def _looks_like_path(name: str) -> bool:
    return bool(re.search(r"[/\\]|\.(csv|tsv|parquet|json|jsonl|ndjson|txt|db|duckdb|sqlite|xlsx?|gz|zst)$|"
                          r"^[a-z][a-z0-9+.-]*://|^~", name, re.IGNORECASE))


def _check_table(node: exp.Table, visible_ctes: frozenset[str], found: set[str]) -> None:
    source = node.this
    if not isinstance(source, exp.Identifier):
        if isinstance(source, exp.Expression):
            _check_table_function(source)
            return
        raise SqlError(400, "sql-syntax", "Tham chiếu bảng không hợp lệ.", "Invalid table reference.")
    name = str(source.this)
    if node.args.get("db") or node.args.get("catalog"):
        qualified = ".".join(p.name for p in node.parts)
        raise SqlError(403, "sql-qualified-table",
                       f"Không được dùng tên bảng kèm lược đồ hay cơ sở dữ liệu ('{qualified}'); "
                       "hãy dùng mã tài nguyên.",
                       f"Schema- or database-qualified table names are not allowed ('{qualified}'); "
                       "use the resource id.", table=qualified)
    low = name.lower()
    if low.startswith(_SYSTEM_PREFIXES):
        raise SqlError(403, "sql-system-table",
                       f"Không được truy vấn bảng hệ thống '{name}'.",
                       f"System catalog tables such as '{name}' cannot be queried.", table=name)
    if low in visible_ctes:
        return
    if _looks_like_path(name):
        raise SqlError(403, "sql-file-access",
                       f"Không được đọc tệp hay đường dẫn ('{name}'); chỉ đọc được các bảng dữ liệu.",
                       f"Reading files or paths ('{name}') is not allowed; only data tables can be read.",
                       table=name)
    found.add(name)


def _cte_name(cte: exp.CTE) -> str:
    return str(cte.alias_or_name).lower()


def _check_tree(tree: exp.Expression, found: set[str]) -> None:
    """Check every node of `tree`, collecting the data tables it reads into `found`.

    CTE names are scoped as DuckDB binds them: a CTE sees the CTEs before it (and itself under WITH
    RECURSIVE), the query body sees all of them, and nothing outside sees them. A name that a CTE does
    not cover is a table reference. Iterative, so long flat chains (x = 1 OR x = 2 OR ...) are fine.
    """
    stack: list[tuple[exp.Expression, frozenset[str]]] = [(tree, frozenset())]
    while stack:
        node, visible = stack.pop()
        _check_node(node)
        with_ = node.args.get("with_") if isinstance(node, exp.Query) else None
        if isinstance(with_, exp.With):
            _check_node(with_)
            recursive = bool(with_.args.get("recursive"))
            seen: list[str] = []
            for cte in with_.iter_expressions():
                if not isinstance(cte, exp.CTE):
                    raise _refuse_construct(cte)
                _check_node(cte)
                name = _cte_name(cte)
                if name.startswith(_SYSTEM_PREFIXES):
                    raise SqlError(403, "sql-system-table",
                                   f"Tên CTE '{name}' trùng với bảng hệ thống.",
                                   f"The CTE name '{name}' is reserved for system catalog tables.",
                                   table=name)
                inner = frozenset(visible | set(seen) | ({name} if recursive else set()))
                stack.extend((child, inner) for child in cte.iter_expressions())
                seen.append(name)
            visible = visible | frozenset(seen)
        if isinstance(node, exp.Table):
            _check_table(node, visible, found)
        stack.extend((child, visible) for child in node.iter_expressions() if child is not with_)


def _refuse_construct(node: exp.Expression) -> SqlError:
    kind = {exp.Into: "SELECT ... INTO", exp.Lock: "FOR UPDATE / FOR SHARE",
            exp.Placeholder: "parameter placeholder", exp.Parameter: "parameter",
            exp.Lambda: "lambda", exp.HistoricalData: "AT (VERSION/TIMESTAMP)",
            exp.Pivot: "PIVOT/UNPIVOT"}.get(type(node), type(node).__name__)
    return SqlError(403, "sql-construct-not-allowed",
                    f"Cú pháp '{kind}' không được phép trong truy vấn SQL.",
                    f"The construct '{kind}' is not allowed in SQL queries.", construct=kind)


def _check_node(node: exp.Expression) -> None:
    if isinstance(node, exp.Func):
        _check_function(node)
        return
    if type(node) in _ALLOWED_NODE_TYPES:
        return
    raise _refuse_construct(node)


def _validate(sql: str, max_length: int = MAX_SQL_LENGTH) -> tuple[exp.Query, set[str]]:
    tree = _parse(sql, max_length)
    count = sum(1 for _ in tree.walk())
    if count > MAX_NODES:
        raise SqlError(413, "sql-too-complex",
                       f"Câu lệnh SQL quá phức tạp ({count} nút, tối đa {MAX_NODES}).",
                       f"The SQL statement is too complex ({count} nodes, at most {MAX_NODES}).")
    found: set[str] = set()
    _check_tree(tree, found)
    return tree, found


def _statement(tree: exp.Query, found: set[str]) -> str:
    """The SQL to run for a validated tree: sqlglot's rendering, without comments, checked once more.

    The rendering is parsed and validated again and must read the same tables, so a rendering quirk
    cannot turn into something that was never checked.
    """
    unsafe = SqlError(400, "sql-unsupported",
                      "Truy vấn dùng cú pháp không kiểm tra an toàn được; hãy viết lại đơn giản hơn.",
                      "The query uses syntax that cannot be checked safely; please write it more simply.")
    try:
        statement = tree.sql(dialect=DIALECT, comments=False)
        _, again = _validate(statement, max_length=4 * MAX_SQL_LENGTH)
    except (SqlError, RecursionError):
        raise unsafe from None
    if {n.lower() for n in again} != {n.lower() for n in found}:
        raise unsafe
    return statement


def referenced_tables(sql: str) -> set[str]:
    """The data tables `sql` reads (CTE names excluded), as written; parse only, nothing runs.

    Raises `SqlError` for anything that is not a single allowed read query.
    """
    return _validate(sql)[1]


def render(sql: str) -> str:
    """The statement `run_sql` executes for `sql`: the validated tree rendered by sqlglot, no comments."""
    return _statement(*_validate(sql))


# ---------------------------------------------------------------------------------------------------------
# Layer 2: the sandbox
# ---------------------------------------------------------------------------------------------------------


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sandbox(tables: dict[str, Path], *, memory_limit: str, threads: int) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB that can read exactly `tables` (name -> Parquet file) and nothing else."""
    if not re.fullmatch(r"\s*\d+(\.\d+)?\s*(B|KB|KiB|MB|MiB|GB|GiB)\s*", memory_limit, re.IGNORECASE):
        raise ValueError(f"bad memory_limit {memory_limit!r}")
    con = duckdb.connect(":memory:", config={
        "threads": max(1, int(threads)),
        "memory_limit": memory_limit,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "allow_persistent_secrets": False,
        "temp_directory": "",
    })
    try:
        con.execute("SET max_temp_directory_size = '0B'")
        paths: list[str] = []
        for name, path in tables.items():
            file = str(Path(path).resolve())
            paths.append(file)
            con.execute(f"CREATE VIEW {_quote_ident(name)} AS SELECT * FROM read_parquet({_quote_str(file)})")
        con.execute("SET allowed_paths = $1", [paths])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


class _Deadline:
    """Interrupts the connection's running query when `timeout_s` has passed; safe against late firing."""

    def __init__(self, con: duckdb.DuckDBPyConnection, timeout_s: float) -> None:
        self._con = con
        self._lock = threading.Lock()
        self._done = False
        self._timer = threading.Timer(timeout_s, self._interrupt)
        self._timer.daemon = True

    def _interrupt(self) -> None:
        with self._lock:
            if not self._done:
                self._con.interrupt()

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()


def _fetch(con: duckdb.DuckDBPyConnection, statement: str,
           row_limit: int) -> tuple[list[str], list[str], list[tuple], bool]:
    cur = con.execute(statement)
    description = cur.description or []
    columns = [d[0] for d in description]
    types = [str(d[1]) for d in description]
    # The result streams: only row_limit + 1 rows are ever produced.
    rows = cur.fetchmany(row_limit + 1) if description else []
    return columns, types, rows[:row_limit], len(rows) > row_limit


def _execute_unvalidated(con: duckdb.DuckDBPyConnection, statement: str, *, timeout_s: float,
                         row_limit: int) -> tuple[list[str], list[str], list[tuple], bool]:
    """Run `statement` on a sandboxed connection as it is, with the time limit and the row cap.

    No validation happens here: `run_sql` validates first. Tests call this directly to prove that the
    sandbox holds on its own.
    """
    with _Deadline(con, timeout_s):
        return _fetch(con, statement, row_limit)


def _check_with_engine_parser(con: duckdb.DuckDBPyConnection, statement: str) -> None:
    """DuckDB's own parser must also see exactly one SELECT with no parameters (no parser differential)."""
    try:
        parsed = con.extract_statements(statement)
    except duckdb.Error:
        parsed = []
    if len(parsed) != 1 or parsed[0].type != duckdb.StatementType.SELECT or parsed[0].named_parameters:
        raise SqlError(400, "sql-unsupported",
                       "Truy vấn dùng cú pháp không kiểm tra an toàn được; hãy viết lại đơn giản hơn.",
                       "The query uses syntax that cannot be checked safely; please write it more simply.")


_TZ = "WITH TIME ZONE"


def _result_statement(con: duckdb.DuckDBPyConnection,
                      statement: str) -> tuple[str, list[str], list[str], list[bool]]:
    """Names and types of `statement`'s result (bound, not run), and the statement to fetch it with.

    Python's DuckDB client needs pytz to hand over time-zone-aware values, so those columns are fetched
    as UTC without zone (and given "+00:00" back) or, inside nested types, as text.
    """
    described = con.execute("DESCRIBE " + statement).fetchall()
    columns = [str(r[0]) for r in described]
    types = [str(r[1]) for r in described]
    utc = [t == f"TIMESTAMP {_TZ}" for t in types]
    if not any(_TZ in t for t in types):
        return statement, columns, types, utc
    exprs = []
    for i, t in enumerate(types, start=1):
        if utc[i - 1]:
            exprs.append(f"timezone('UTC', #{i})")
        elif _TZ in t:
            exprs.append(f"CAST(#{i} AS VARCHAR)")
        else:
            exprs.append(f"#{i}")
    return f"SELECT {', '.join(exprs)} FROM ({statement}) AS _cityai_q", columns, types, utc


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return str(value)


def _engine_message(e: Exception, tables: dict[str, Path]) -> str:
    """DuckDB's message, first lines only (no echo of the statement), with file paths replaced."""
    lines = []
    for line in str(e).splitlines():
        if line.startswith("LINE ") or len(lines) >= 3:
            break
        if line.strip():
            lines.append(line.strip())
    msg = " ".join(lines)[:500]
    for name, path in tables.items():
        for p in {str(path), str(Path(path).resolve())}:
            msg = msg.replace(p, name)
    return msg


def _table_map(tables: dict[str, Path]) -> dict[str, str]:
    """Lower-case name -> name as given (DuckDB resolves identifiers case-insensitively)."""
    out: dict[str, str] = {}
    for name in tables:
        if not isinstance(name, str) or not name or len(name) > MAX_TABLE_NAME_LENGTH or "\x00" in name:
            raise ValueError(f"bad table name {name!r}")
        if name.lower().startswith(_SYSTEM_PREFIXES):
            raise ValueError(f"table name {name!r} is reserved")
        if name.lower() in out:
            raise ValueError(f"table names {out[name.lower()]!r} and {name!r} differ only in case")
        out[name.lower()] = name
    return out


def run_sql(sql: str, tables: dict[str, Path], *, timeout_s: float = 2.0, row_limit: int = 10_000,
            memory_limit: str = "256MB", threads: int = 1) -> SqlResult:
    """Validate `sql` and run it over `tables` (name -> Parquet file) in a fresh sandbox.

    The caller has already checked that it may read every table in `tables`; any other table is refused.
    """
    if timeout_s <= 0 or row_limit < 0:
        raise ValueError("timeout_s must be > 0 and row_limit >= 0")
    tree, referenced = _validate(sql)
    by_lower = _table_map(tables)
    for name in sorted(referenced):
        if name.lower() not in by_lower:
            raise SqlError(404, "sql-unknown-table",
                           f"Không có bảng '{name}' hoặc bạn không có quyền đọc bảng này.",
                           f"There is no table '{name}', or you may not read it.", table=name)
    used = {by_lower[n.lower()]: tables[by_lower[n.lower()]] for n in referenced}
    for name, path in used.items():
        if not Path(path).is_file():
            raise SqlError(503, "sql-table-unavailable",
                           f"Dữ liệu của bảng '{name}' hiện không đọc được.",
                           f"The data of table '{name}' cannot be read right now.", table=name)
    statement = _statement(tree, referenced)
    started = time.perf_counter()
    try:
        con = _sandbox(used, memory_limit=memory_limit, threads=threads)
    except duckdb.Error as e:
        # The tables' own files are unreadable (corrupt, truncated, gone): the server's problem, not the
        # query's; the message names no path.
        raise SqlError(503, "sql-table-unavailable",
                       "Không đọc được dữ liệu của bảng được truy vấn.",
                       "The data of a queried table cannot be read right now.",
                       engine=_engine_message(e, used)) from None
    try:
        _check_with_engine_parser(con, statement)
        with _Deadline(con, timeout_s):
            fetch_statement, columns, types, utc = _result_statement(con, statement)
            _, _, rows, truncated = _fetch(con, fetch_statement, row_limit)
    except duckdb.InterruptException:
        raise SqlError(408, "sql-timeout",
                       f"Truy vấn chạy quá {timeout_s:g} giây và đã bị dừng.",
                       f"The query ran past {timeout_s:g} s and was stopped.", timeout_s=timeout_s) from None
    except duckdb.OutOfMemoryException:
        raise SqlError(422, "sql-memory-limit",
                       f"Truy vấn cần nhiều hơn {memory_limit} bộ nhớ cho phép; hãy lọc hoặc gộp dữ liệu "
                       "trước.",
                       f"The query needs more than the {memory_limit} of memory it may use; filter or "
                       "aggregate first.", memory_limit=memory_limit) from None
    except duckdb.PermissionException as e:
        raise SqlError(403, "sql-sandbox", "Truy vấn bị chặn vì truy cập ra ngoài các bảng được phép.",
                       "The query was blocked: it tried to reach outside its permitted tables.",
                       engine=_engine_message(e, used)) from None
    except (duckdb.IOException, duckdb.InternalException, duckdb.FatalException) as e:
        raise SqlError(500, "sql-engine", "Lỗi máy truy vấn khi đọc dữ liệu.",
                       "The query engine failed while reading the data.",
                       engine=_engine_message(e, used)) from None
    except duckdb.Error as e:
        msg = _engine_message(e, used)
        raise SqlError(400, "sql-error", f"Truy vấn lỗi: {msg}", f"Query failed: {msg}") from None
    finally:
        con.close()
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    out_rows = []
    for row in rows:
        out = [_json_value(v) for v in row]
        for i, is_utc in enumerate(utc):
            if is_utc and out[i] is not None:
                out[i] += "+00:00"
        out_rows.append(out)
    return SqlResult(columns=columns, types=types, rows=out_rows,
                     truncated=truncated, elapsed_ms=round(elapsed_ms, 3))
