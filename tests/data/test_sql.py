"""The read-only SQL engine (cityai.data.sql): validation, sandbox, limits, JSON-safe results."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from cityai.data import sql as S
from cityai.data.sql import SqlError, SqlResult, referenced_tables, run_sql

WARDS = "2b1f0c1e-7a53-4d7e-9a43-0d6f3f0a0001"  # resource ids are UUID strings
READINGS = "2b1f0c1e-7a53-4d7e-9a43-0d6f3f0a0002"
SECRET = "2b1f0c1e-7a53-4d7e-9a43-0d6f3f0a0003"  # exists on disk, never permitted


def _write_parquet(path: Path, select: str) -> Path:
    con = duckdb.connect(":memory:")
    try:
        target = str(path).replace("'", "''")
        con.execute(f"COPY ({select}) TO '{target}' (FORMAT parquet)")
    finally:
        con.close()
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("sqlfiles")
    wards = _write_parquet(d / "wards.parquet", """
        SELECT id, name, district, amount::DECIMAL(10,2) AS amount, d::DATE AS d, ts::TIMESTAMP AS ts, tags
        FROM (VALUES
          (1, 'Phường Bến Thành', 'Q1', 12.5, '2024-01-15', '2024-01-15 08:30:00', 'a,b'),
          (2, 'Phường Sài Gòn', 'Q1', 20.25, '2024-02-01', '2024-02-01 09:00:00', 'b'),
          (3, 'Phường Tân Định', 'Q1', NULL, '2024-03-10', '2024-03-10 10:15:00', NULL),
          (4, 'Xã Bình Hưng', 'BC', 7.0, '2024-03-31', '2024-03-31 23:59:59', 'c'),
          (5, 'Phường Thủ Đức', 'TD', 30.0, '2024-04-02', '2024-04-02 00:00:00', 'a')
        ) AS v(id, name, district, amount, d, ts, tags)""")
    readings = _write_parquet(d / "readings.parquet", """
        SELECT (i % 5) + 1 AS ward_id, i AS seq, (i * 1.5)::DOUBLE AS pm25
        FROM range(25) r(i)""")
    secret = _write_parquet(d / "secret.parquet", "SELECT 'top secret' AS s")
    big = _write_parquet(d / "big.parquet", "SELECT range AS id, range % 97 AS g FROM range(100000)")
    quoted = _write_parquet(d / "it's here.parquet", "SELECT 42 AS answer")
    return {"wards": wards, "readings": readings, "secret": secret, "big": big, "quoted": quoted}


@pytest.fixture()
def tables(files: dict[str, Path]) -> dict[str, Path]:
    """What the datastore service passes after its permission check: only permitted tables."""
    return {WARDS: files["wards"], READINGS: files["readings"], "wards": files["wards"]}


def q(name: str) -> str:
    return f'"{name}"'


# --------------------------------------------------------------------------------------------------------
# Allowed queries
# --------------------------------------------------------------------------------------------------------


def test_filter_returns_rows_columns_types(tables):
    r = run_sql(f"SELECT id, name, amount FROM {q(WARDS)} WHERE district = 'Q1' ORDER BY id", tables)
    assert isinstance(r, SqlResult)
    assert r.columns == ["id", "name", "amount"]
    assert r.types[0] == "INTEGER" and r.types[1] == "VARCHAR" and r.types[2].startswith("DECIMAL")
    assert r.rows == [[1, "Phường Bến Thành", 12.5], [2, "Phường Sài Gòn", 20.25],
                      [3, "Phường Tân Định", None]]
    assert r.truncated is False
    assert r.elapsed_ms > 0


def test_group_by_aggregate(tables):
    r = run_sql(f"SELECT district, count(*) AS n, sum(amount) AS total FROM {q(WARDS)} "
                "GROUP BY district ORDER BY district", tables)
    assert r.rows == [["BC", 1, 7.0], ["Q1", 3, 32.75], ["TD", 1, 30.0]]


def test_join_of_two_permitted_tables(tables):
    r = run_sql(f"SELECT w.name, round(avg(r.pm25), 2) AS pm FROM {q(WARDS)} w "
                f"JOIN {q(READINGS)} r ON r.ward_id = w.id GROUP BY w.name ORDER BY pm DESC LIMIT 2", tables)
    assert r.columns == ["name", "pm"]
    assert r.rows == [["Phường Thủ Đức", 21.0], ["Xã Bình Hưng", 19.5]]


def test_cte_and_union(tables):
    sql = (f"WITH q1 AS (SELECT id FROM {q(WARDS)} WHERE district = 'Q1'), "
           "big AS (SELECT id FROM q1 WHERE id > 1) "
           "SELECT id FROM big UNION ALL SELECT 99 ORDER BY id")
    assert referenced_tables(sql) == {WARDS}
    assert run_sql(sql, tables).rows == [[2], [3], [99]]


def test_recursive_cte(tables):
    r = run_sql("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) "
                "SELECT sum(i) FROM n", tables)
    assert r.rows == [[15]]


def test_window_function(tables):
    r = run_sql(f"SELECT ward_id, seq, row_number() OVER (PARTITION BY ward_id ORDER BY seq DESC) AS rn, "
                f"lag(seq) OVER (PARTITION BY ward_id ORDER BY seq) AS prev FROM {q(READINGS)} "
                "WHERE ward_id = 1 ORDER BY seq", tables)
    assert [row[2] for row in r.rows] == [5, 4, 3, 2, 1]
    assert [row[3] for row in r.rows] == [None, 0, 5, 10, 15]


def test_diacritics_insensitive_search(tables):
    r = run_sql(f"SELECT name FROM {q(WARDS)} "
                "WHERE strip_accents(lower(name)) LIKE '%' || strip_accents(lower('ben thanh')) || '%'",
                tables)
    assert r.rows == [["Phường Bến Thành"]]
    # And the other way round: the query typed with marks finds the same row.
    r = run_sql(f"SELECT id FROM {q(WARDS)} "
                "WHERE strip_accents(name) ILIKE '%' || strip_accents('BẾN THÀNH') || '%'", tables)
    assert r.rows == [[1]]


def test_alias_name_and_case_insensitive_names(tables):
    # An alias maps to the same file; DuckDB identifiers are case-insensitive, and so is the check.
    r = run_sql("SELECT count(*) FROM WARDS", tables)
    assert r.rows == [[5]]
    assert referenced_tables("SELECT count(*) FROM WARDS") == {"WARDS"}


def test_quoted_path_and_odd_table_name(files):
    r = run_sql('SELECT answer FROM "we""ird name"', {'we"ird name': files["quoted"]})
    assert r.rows == [[42]]


def test_range_and_generate_series_are_allowed(tables):
    assert run_sql("SELECT count(*) FROM range(10)", tables).rows == [[10]]
    assert run_sql("SELECT sum(generate_series) FROM generate_series(1, 4)", tables).rows == [[10]]


def test_results_are_json_safe(tables):
    r = run_sql(f"""SELECT d, ts, amount, TIME '12:30:00' AS t, INTERVAL 2 DAY AS iv, '\\xAA\\xBB'::BLOB AS b,
                   'nan'::DOUBLE AS nan, [1, 2] AS l, {{'k': d}} AS s,
                   '6e1b1d02-1234-4cde-8f00-000000000001'::UUID AS u, 12345678901234567890::HUGEINT AS h
                   FROM {q(WARDS)} WHERE id = 1""", tables)
    row = r.rows[0]
    json.dumps(r.rows, allow_nan=False)  # would raise on NaN, dates, decimals, bytes
    assert row[0] == "2024-01-15"
    assert row[1] == "2024-01-15T08:30:00"
    assert row[2] == 12.5
    assert row[3] == "12:30:00"
    assert row[4] == "2 days, 0:00:00"
    assert row[5] == "aabb"
    assert row[6] is None
    assert row[7] == [1, 2]
    assert row[8] == {"k": "2024-01-15"}
    assert row[9] == "6e1b1d02-1234-4cde-8f00-000000000001"
    assert row[10] == 12345678901234567890


def test_time_zone_values_are_utc_iso_strings(tables, tmp_path):
    # DuckDB's Python client would need pytz for these; they come back as UTC ISO strings instead.
    r = run_sql("SELECT TIMESTAMPTZ '2024-01-15 08:30:00+07' AS t, 1 AS n, 2 AS n, "
                "[TIMESTAMPTZ '2024-01-15 08:30:00+07'] AS l, now() AS now", tables)
    assert r.columns == ["t", "n", "n", "l", "now"]
    assert r.types[0] == "TIMESTAMP WITH TIME ZONE"
    assert r.rows[0][:4] == ["2024-01-15T01:30:00+00:00", 1, 2, "['2024-01-15 01:30:00+00']"]
    assert r.rows[0][4].endswith("+00:00")
    # Also from a Parquet column, with ORDER BY kept through the re-projection.
    path = _write_parquet(tmp_path / "tz.parquet",
                          "SELECT i, TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_hours(i) AS t "
                          "FROM range(3) r(i)")
    r = run_sql('SELECT t, i FROM "tz" ORDER BY i DESC', {"tz": path})
    assert r.rows == [["2024-01-01T02:00:00+00:00", 2], ["2024-01-01T01:00:00+00:00", 1],
                      ["2024-01-01T00:00:00+00:00", 0]]


def test_comments_are_dropped_before_running(tables):
    sql = f"SELECT id /* ; DROP TABLE x */ FROM {q(WARDS)} -- trailing\nWHERE id = 2"
    assert "DROP" not in S.render(sql) and "--" not in S.render(sql)
    assert run_sql(sql, tables).rows == [[2]]


# Every function on the allow-list, with a call that must run after the sqlglot round trip.
T = q(WARDS)
FUNCTION_SAMPLES: dict[str, str] = {
    # math
    "abs": "abs(-id)", "ceil": "ceil(amount)", "ceiling": "ceiling(amount)", "floor": "floor(amount)",
    "round": "round(amount, 1)", "trunc": "trunc(amount)", "sign": "sign(amount)", "sqrt": "sqrt(id)",
    "cbrt": "cbrt(id)", "exp": "exp(1)", "ln": "ln(id)", "log": "log(id)", "log2": "log2(id)",
    "log10": "log10(id)", "pow": "pow(id, 2)", "power": "power(id, 2)", "mod": "mod(id, 2)",
    "greatest": "greatest(id, 3)", "least": "least(id, 3)", "pi": "pi()", "degrees": "degrees(1)",
    "radians": "radians(90)", "sin": "sin(id)", "cos": "cos(id)", "tan": "tan(id)", "asin": "asin(0.5)",
    "acos": "acos(0.5)", "atan": "atan(1)", "atan2": "atan2(1, id)", "gcd": "gcd(id, 4)", "lcm": "lcm(id, 4)",
    "isnan": "isnan(id::DOUBLE)", "isinf": "isinf(id::DOUBLE)", "isfinite": "isfinite(id::DOUBLE)",
    # strings
    "lower": "lower(name)", "upper": "upper(name)", "lcase": "lcase(name)", "ucase": "ucase(name)",
    "length": "length(name)", "char_length": "char_length(name)", "strlen": "strlen(name)",
    "substr": "substr(name, 1, 3)", "substring": "substring(name, 1, 3)", "left": "left(name, 2)",
    "right": "right(name, 2)", "replace": "replace(name, 'Phường', 'P.')", "trim": "trim(name)",
    "ltrim": "ltrim(name)", "rtrim": "rtrim(name)", "strip_accents": "strip_accents(name)",
    "concat": "concat(name, district)", "concat_ws": "concat_ws('-', name, district)",
    "regexp_matches": "regexp_matches(name, 'B.n')", "regexp_replace": "regexp_replace(name, '\\s+', ' ')",
    "regexp_extract": "regexp_extract(name, '(\\w+)', 1)",
    "regexp_full_match": "regexp_full_match(name, '.*')",
    "contains": "contains(name, 'Th')", "starts_with": "starts_with(name, 'P')",
    "ends_with": "ends_with(name, 'h')", "prefix": "prefix(name, 'P')", "suffix": "suffix(name, 'h')",
    "position": "position('a' IN name)", "instr": "instr(name, 'a')", "strpos": "strpos(name, 'a')",
    "lpad": "lpad(district, 5, '*')", "rpad": "rpad(district, 5, '*')", "reverse": "reverse(name)",
    "repeat": "repeat(district, 2)", "split_part": "split_part(tags, ',', 1)",
    "string_split": "string_split(tags, ',')", "format": "format('{}-{}', id, district)",
    "printf": "printf('%d', id)", "ascii": "ascii(district)", "chr": "chr(65)",
    "levenshtein": "levenshtein(district, 'Q2')",
    "jaro_winkler_similarity": "jaro_winkler_similarity(district, 'Q2')",
    "nfc_normalize": "nfc_normalize(name)",
    # dates
    "date_trunc": "date_trunc('month', d)", "date_part": "date_part('year', d)",
    "datepart": "datepart('year', d)", "extract": "extract(year FROM d)",
    "strftime": "strftime(d, '%d/%m/%Y')",
    "strptime": "strptime('15/01/2024', '%d/%m/%Y')", "try_strptime": "try_strptime('x', '%d/%m/%Y')",
    "make_date": "make_date(2024, 1, 2)", "make_timestamp": "make_timestamp(2024, 1, 2, 3, 4, 5.0)",
    "date_diff": "date_diff('day', d, DATE '2025-01-01')",
    "datediff": "datediff('day', d, DATE '2025-01-01')",
    "date_add": "date_add(d, INTERVAL 1 DAY)", "date_sub": "date_sub('month', d, DATE '2025-01-01')",
    "epoch": "epoch(ts)", "epoch_ms": "epoch_ms(ts)", "to_timestamp": "to_timestamp(1700000000)",
    "year": "year(d)", "month": "month(d)", "day": "day(d)", "hour": "hour(ts)", "minute": "minute(ts)",
    "second": "second(ts)", "dayofweek": "dayofweek(d)", "dayofyear": "dayofyear(d)", "week": "week(d)",
    "weekofyear": "weekofyear(d)", "quarter": "quarter(d)", "isodow": "isodow(d)", "isoyear": "isoyear(d)",
    "last_day": "last_day(d)", "monthname": "monthname(d)", "dayname": "dayname(d)",
    "age": "age(ts, TIMESTAMP '2020-01-01')", "current_date": "current_date", "today": "today()",
    "current_timestamp": "current_timestamp", "now": "now()",
    # aggregates
    "count": "count(*)", "sum": "sum(amount)", "avg": "avg(amount)", "mean": "mean(amount)",
    "min": "min(d)", "max": "max(d)", "median": "median(amount)", "quantile": "quantile(amount, 0.5)",
    "quantile_cont": "quantile_cont(amount, 0.5)", "quantile_disc": "quantile_disc(amount, 0.5)",
    "percentile_cont": "percentile_cont(0.5) WITHIN GROUP (ORDER BY amount)",
    "percentile_disc": "percentile_disc(0.5) WITHIN GROUP (ORDER BY amount)",
    "approx_quantile": "approx_quantile(amount, 0.5)", "stddev": "stddev(amount)",
    "stddev_samp": "stddev_samp(amount)", "stddev_pop": "stddev_pop(amount)", "variance": "variance(amount)",
    "var_samp": "var_samp(amount)", "var_pop": "var_pop(amount)", "mode": "mode(district)",
    "string_agg": "string_agg(name, ', ' ORDER BY id)", "group_concat": "group_concat(name, ',')",
    "listagg": "listagg(name, ',')", "count_if": "count_if(id > 1)", "bool_and": "bool_and(id > 0)",
    "bool_or": "bool_or(id > 4)", "first": "first(name)", "last": "last(name)",
    "any_value": "any_value(name)",
    "arg_min": "arg_min(name, id)", "arg_max": "arg_max(name, id)", "argmin": "argmin(name, id)",
    "argmax": "argmax(name, id)", "approx_count_distinct": "approx_count_distinct(district)",
    "corr": "corr(id, amount)", "covar_pop": "covar_pop(id, amount)", "covar_samp": "covar_samp(id, amount)",
    "product": "product(id)", "array_agg": "array_agg(id)", "list": "list(id)",
    "entropy": "entropy(district)",
    "kurtosis": "kurtosis(amount)", "skewness": "skewness(amount)", "regr_slope": "regr_slope(amount, id)",
    "regr_intercept": "regr_intercept(amount, id)", "regr_r2": "regr_r2(amount, id)",
    # window
    "row_number": "row_number() OVER (ORDER BY id)", "rank": "rank() OVER (ORDER BY district)",
    "dense_rank": "dense_rank() OVER (ORDER BY district)",
    "percent_rank": "percent_rank() OVER (ORDER BY id)",
    "cume_dist": "cume_dist() OVER (ORDER BY id)", "ntile": "ntile(2) OVER (ORDER BY id)",
    "lag": "lag(id) OVER (ORDER BY id)", "lead": "lead(id, 1, 0) OVER (ORDER BY id)",
    "first_value": "first_value(id) OVER (ORDER BY id)", "last_value": "last_value(id) OVER (ORDER BY id)",
    "nth_value": "nth_value(id, 2) OVER (ORDER BY id)",
    # conditionals and types
    "cast": "CAST(id AS VARCHAR)", "try_cast": "TRY_CAST(name AS INTEGER)", "coalesce": "coalesce(tags, '-')",
    "nullif": "nullif(id, 1)", "ifnull": "ifnull(tags, '-')", "if": "if(id > 1, 'a', 'b')",
    "typeof": "typeof(amount)",
    # lists
    "unnest": "unnest(string_split(tags, ','))", "array_length": "array_length(string_split(tags, ','))",
    "list_contains": "list_contains(string_split(tags, ','), 'a')",
    # pure table functions (also usable in FROM, see test_range_and_generate_series_are_allowed)
    "range": "range(3)", "generate_series": "generate_series(1, 3)",
}


W, R = q(WARDS), q(READINGS)
CONSTRUCTS = [
    f"SELECT id FROM {W} WHERE (id = 1 OR id = 2) AND NOT district = 'TD' AND tags IS NOT NULL",
    f"SELECT id FROM {W} WHERE id IN (1, 2) OR id BETWEEN 4 AND 5 OR id NOT IN (3)",
    f"SELECT CASE WHEN amount > 10 THEN 'cao' WHEN amount IS NULL THEN '?' ELSE 'thấp' END FROM {W}",
    f"SELECT name LIKE 'Phường%', name ILIKE '%thành', name ~ 'B.n', name GLOB 'P*', "
    f"name SIMILAR TO 'P.*' FROM {W}",
    f"SELECT id + 1, id - 1, id * 2, id / 2, id // 2, id % 2, -id, 2 ** 3, name || '!' FROM {W}",
    f"SELECT id FROM {W} w WHERE EXISTS (SELECT 1 FROM {R} r WHERE r.ward_id = w.id AND r.pm25 > 30)",
    f"SELECT (SELECT max(pm25) FROM {R}), id FROM {W} WHERE id = ANY (SELECT ward_id FROM {R})",
    f"SELECT DISTINCT district FROM {W}",
    f"SELECT DISTINCT ON (district) district, name FROM {W} ORDER BY district, id",
    f"SELECT district, count(*) FROM {W} GROUP BY ALL HAVING count(*) > 0 ORDER BY ALL",
    f"SELECT district, tags, count(*) FROM {W} GROUP BY ROLLUP (district, tags)",
    f"SELECT district, count(*) FROM {W} GROUP BY GROUPING SETS ((district), ())",
    f"SELECT * FROM {W} QUALIFY row_number() OVER (PARTITION BY district ORDER BY id) = 1",
    f"SELECT id FROM {W} ORDER BY amount DESC NULLS FIRST LIMIT 2 OFFSET 1",
    f"SELECT id FROM {W} ORDER BY id FETCH FIRST 2 ROWS ONLY",
    f"SELECT d + INTERVAL 1 MONTH, ts - INTERVAL '2 hours', d::VARCHAR, TRY_CAST(tags AS INT) FROM {W}",
    f"SELECT DATE '2024-01-01', TIMESTAMP '2024-01-01 10:00:00', 1::DECIMAL(10, 2) FROM {W}",
    f"SELECT {{'a': id, 'b': name}}.a, [id, 2, 3][1], [1, 2, 3][1:2], string_split(tags, ',')[1] FROM {W}",
    "SELECT * FROM (VALUES (1, 'x'), (2, 'y')) AS v(k, label)",
    f"SELECT count(*) FROM {W} USING SAMPLE 50 PERCENT (bernoulli, 7)",
    f"SELECT sum(pm25) OVER (ORDER BY seq ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM {R}",
    f"SELECT sum(pm25) OVER w FROM {R} WINDOW w AS (PARTITION BY ward_id ORDER BY seq)",
    f"SELECT count(*) FILTER (WHERE pm25 > 10), sum(pm25) FILTER (WHERE ward_id = 1) FROM {R}",
    f"SELECT id FROM {W} UNION SELECT ward_id FROM {R} INTERSECT SELECT 1 EXCEPT SELECT 9",
    f"SELECT id FROM {W} UNION ALL BY NAME SELECT ward_id AS id FROM {R}",
    f"SELECT * FROM {W} w LEFT JOIN {R} r ON r.ward_id = w.id RIGHT JOIN {W} w2 ON w2.id = w.id",
    f"SELECT * FROM {W} w FULL OUTER JOIN {R} r ON r.ward_id = w.id",
    f"SELECT * FROM {W} w CROSS JOIN (SELECT 1 AS one) o",
    f"SELECT * FROM {W} w SEMI JOIN {R} r ON r.ward_id = w.id",
    f"SELECT * FROM {W} w ANTI JOIN {R} r ON r.ward_id = w.id",
    f"SELECT * FROM {W} NATURAL JOIN (SELECT 1 AS id) x",
    f"SELECT * FROM {W} w ASOF JOIN {R} r ON w.id = r.ward_id AND w.id >= r.seq",
    f"SELECT * FROM {W} POSITIONAL JOIN {R}",
    f"SELECT * FROM {W} w, LATERAL (SELECT w.id * 2 AS twice) t",
    f"SELECT * FROM {W} w JOIN {R} r USING (id)".replace("USING (id)", "ON r.ward_id = w.id"),
    f"SELECT tag FROM {W}, unnest(string_split(tags, ',')) AS t(tag)",
    "SELECT * FROM unnest([1, 2, 3])",
    f"SELECT * EXCLUDE (tags) FROM {W}",
    f"SELECT * REPLACE (upper(name) AS name) FROM {W}",
    f"SELECT name COLLATE nocase FROM {W} ORDER BY 1",
    f"SELECT id IS DISTINCT FROM 1, id IS NOT DISTINCT FROM 2 FROM {W}",
    f"FROM {W} SELECT name WHERE id = 1",
    f"FROM {W}",
    f"TABLE {W}",
    f"WITH x(a, b) AS (SELECT id, name FROM {W}) SELECT b FROM x WHERE a = 1",
    f"WITH x AS MATERIALIZED (SELECT id FROM {W}) SELECT count(*) FROM x",
    f"SELECT * FROM {W} WHERE name LIKE '%!%%' ESCAPE '!'",
    f"SELECT id FROM {W} WHERE " + " OR ".join(f"id = {i}" for i in range(800)),
]


@pytest.mark.parametrize("sql", CONSTRUCTS)
def test_allowed_constructs_run(sql, tables):
    r = run_sql(sql, tables)
    json.dumps(r.rows, allow_nan=False)


def test_function_samples_cover_the_allow_list():
    assert set(FUNCTION_SAMPLES) == set(S.ALLOWED_FUNCTIONS)


@pytest.mark.parametrize("name", sorted(FUNCTION_SAMPLES))
def test_every_allowed_function_runs(name, tables):
    r = run_sql(f"SELECT {FUNCTION_SAMPLES[name]} AS v FROM {T}", tables)
    assert r.columns == ["v"]
    assert r.rows, name
    json.dumps(r.rows, allow_nan=False)


# --------------------------------------------------------------------------------------------------------
# Refused queries (layer 1)
# --------------------------------------------------------------------------------------------------------


def refused(sql: str, tables: dict | None = None) -> SqlError:
    with pytest.raises(SqlError) as info:
        if tables is None:
            referenced_tables(sql)
        else:
            run_sql(sql, tables)
    err = info.value
    assert err.vi and err.en and err.vi != err.en
    return err


@pytest.mark.parametrize("sql,kind", [
    ("INSERT INTO t VALUES (1)", "INSERT"),
    ("UPDATE t SET a = 1", "UPDATE"),
    ("DELETE FROM t", "DELETE"),
    ("CREATE TABLE x AS SELECT 1", "CREATE TABLE"),
    ("CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
    ("CREATE MACRO m(a) AS a", "CREATE"),
    ("CREATE SECRET s (TYPE s3)", "CREATE"),
    ("DROP TABLE t", "DROP TABLE"),
    ("ALTER TABLE t ADD COLUMN c INT", "ALTER"),
    ("TRUNCATE t", "TRUNCATE"),
    ("ATTACH '/tmp/x.db' AS x", "ATTACH"),
    ("DETACH x", "DETACH"),
    ("COPY t TO '/tmp/out.csv'", "COPY"),
    ("COPY (SELECT 1) TO '/tmp/out.parquet' (FORMAT parquet)", "COPY"),
    ("EXPORT DATABASE '/tmp/x'", "EXPORT"),
    ("PRAGMA version", "PRAGMA"),
    ("SET enable_external_access = true", "SET"),
    ("SET VARIABLE x = 1", "SET"),
    ("RESET memory_limit", "RESET"),
    ("INSTALL httpfs", "INSTALL"),
    ("LOAD httpfs", "LOAD"),
    ("CALL pragma_version()", "CALL"),
    ("USE other", "USE"),
    ("DESCRIBE t", "DESCRIBE"),
    ("SUMMARIZE t", "SUMMARIZE"),
    ("SHOW TABLES", "SHOW"),
    ("BEGIN", "BEGIN"),
    ("CHECKPOINT", "CHECKPOINT"),
    ("VACUUM", "VACUUM"),
    ("PIVOT t ON a USING sum(b)", "PIVOT"),
    ("EXPLAIN SELECT 1", "EXPLAIN"),
    ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN"),
    ("IMPORT DATABASE '/tmp/x'", "IMPORT"),
])
def test_write_and_other_statements_are_refused(sql, kind):
    err = refused(sql)
    assert err.status == 403 and err.code == "sql-read-only"
    assert kind in err.en


@pytest.mark.parametrize("sql", [
    "SELECT 1; DROP TABLE t",
    "SELECT 1; -- x\nDROP TABLE t",
    "SELECT 1; SELECT 2",
    "SELECT 1 /* a */; /* b */ ATTACH 'x.db' AS x",
])
def test_multiple_statements_are_refused(sql):
    err = refused(sql)
    assert (err.status, err.code) == (400, "sql-multiple-statements")


def test_comment_hiding_sql_is_inert():
    # A statement inside a comment is just a comment: one SELECT, nothing else runs.
    assert referenced_tables("SELECT 1 /* ; DROP TABLE t */ -- ; DELETE FROM t") == set()


@pytest.mark.parametrize("sql,function", [
    ("SELECT getenv('HOME')", "getenv"),
    ("SELECT current_setting('memory_limit')", "current_setting"),
    ("SELECT getvariable('x')", "getvariable"),
    ("SELECT read_text('/etc/passwd')", "read_text"),
    ("SELECT read_csv('/etc/passwd')::VARCHAR", "read_csv"),
    ("SELECT md5(name) FROM t", "md5"),
    ("SELECT list_transform([1], x -> x + 1)", "list_transform"),
    ("SELECT version()", "version"),
    ("SELECT 'abc'.upper().getenv()", "getenv"),
    ("SELECT main.getenv('HOME')", "getenv"),
    ("SELECT count(*) FILTER (WHERE getenv('X') = '1') FROM t", "getenv"),
])
def test_functions_outside_the_allow_list_are_refused(sql, function):
    err = refused(sql)
    assert (err.status, err.code) == (403, "sql-function-not-allowed")
    assert err.extra["function"] == function and function in err.en and function in err.vi


@pytest.mark.parametrize("sql,function", [
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "read_csv_auto"),
    ("SELECT * FROM read_parquet('/srv/lake/x.parquet')", "read_parquet"),
    ("SELECT * FROM parquet_scan('/srv/lake/x.parquet')", "parquet_scan"),
    ("SELECT * FROM read_json('/etc/x.json')", "read_json"),
    ("SELECT * FROM read_text('/etc/passwd')", "read_text"),
    ("SELECT * FROM read_blob('/etc/passwd')", "read_blob"),
    ("SELECT * FROM glob('/etc/*')", "glob"),
    ("SELECT * FROM sniff_csv('/etc/passwd')", "sniff_csv"),
    ("SELECT * FROM duckdb_settings()", "duckdb_settings"),
    ("SELECT * FROM duckdb_secrets()", "duckdb_secrets"),
    ("SELECT * FROM pragma_version()", "pragma_version"),
    ("SELECT * FROM query('SELECT 1')", "query"),
    ("SELECT * FROM query_table('t')", "query_table"),
    ("SELECT * FROM t JOIN read_csv('/etc/passwd') ON true", "read_csv"),
])
def test_table_functions_are_refused(sql, function):
    err = refused(sql)
    assert err.status == 403
    assert err.code in {"sql-table-function-not-allowed", "sql-function-not-allowed"}
    assert function in err.en


@pytest.mark.parametrize("sql,code", [
    ("SELECT * FROM information_schema.tables", "sql-qualified-table"),
    ("SELECT * FROM pg_catalog.pg_settings", "sql-qualified-table"),
    ("SELECT * FROM main.t", "sql-qualified-table"),
    ("SELECT * FROM memory.main.t", "sql-qualified-table"),
    ("SELECT * FROM system.main.duckdb_settings", "sql-qualified-table"),
    ("SELECT * FROM duckdb_settings", "sql-system-table"),
    ("SELECT * FROM duckdb_views", "sql-system-table"),
    ("SELECT * FROM pg_settings", "sql-system-table"),
    ("SELECT * FROM sqlite_master", "sql-system-table"),
    ("SELECT * FROM pragma_database_list", "sql-system-table"),
    ("WITH duckdb_views AS (SELECT * FROM duckdb_views) SELECT * FROM duckdb_views", "sql-system-table"),
    ("SELECT * FROM '/etc/passwd'", "sql-file-access"),
    ('SELECT * FROM "/etc/passwd"', "sql-file-access"),
    ("SELECT * FROM 'data.csv'", "sql-file-access"),
    ("SELECT * FROM '../lake/x.parquet'", "sql-file-access"),
    ("SELECT * FROM 'https://example.org/x.parquet'", "sql-file-access"),
])
def test_catalog_paths_and_qualified_names_are_refused(sql, code):
    err = refused(sql)
    assert (err.status, err.code) == (403, code)


def test_cte_does_not_cover_a_table_it_cannot_see(tables):
    # DuckDB binds a forward reference to the catalog, not to the later CTE: it is a table reference.
    sql = f"WITH a AS (SELECT * FROM {q(SECRET)}), {q(SECRET)} AS (SELECT 1 AS x) SELECT * FROM a"
    assert referenced_tables(sql) == {SECRET}
    err = refused(sql, tables)
    assert (err.status, err.code) == (404, "sql-unknown-table")
    # A CTE defined inside a subquery is not visible outside it.
    sql = "SELECT * FROM (WITH x AS (SELECT 1 AS v) SELECT * FROM x) s, x"
    assert referenced_tables(sql) == {"x"}
    # A non-recursive CTE referring to its own name reads the catalog object of that name.
    assert referenced_tables(f"WITH {q(SECRET)} AS (SELECT * FROM {q(SECRET)}) SELECT 1") == {SECRET}


def test_unpermitted_table_is_refused_and_named(tables, files):
    sql = f"SELECT * FROM {q(WARDS)} JOIN {q(SECRET)} ON true"
    assert referenced_tables(sql) == {WARDS, SECRET}
    err = refused(sql, tables)
    assert (err.status, err.code) == (404, "sql-unknown-table")
    assert err.extra["table"] == SECRET and SECRET in err.en and SECRET in err.vi


@pytest.mark.parametrize("sql", [
    "SELECT * INTO newtable FROM t",
    "SELECT * FROM t FOR UPDATE",
    "SELECT ?",
    "SELECT $1",
    "SELECT * FROM t AT (VERSION => 1)",
    "SELECT COLUMNS('a.*') FROM t",
])
def test_other_constructs_are_refused(sql):
    err = refused(sql)
    assert err.status == 403 and err.code in {"sql-construct-not-allowed", "sql-function-not-allowed"}


@pytest.mark.parametrize("sql,status,code", [
    ("", 400, "sql-empty"),
    ("   -- only a comment\n", 400, "sql-empty"),
    ("SELEC 1 FROM", 400, "sql-syntax"),
    ("SELECT (1", 400, "sql-syntax"),
    ("SELECT 1\x00", 400, "sql-syntax"),
])
def test_empty_and_malformed(sql, status, code):
    err = refused(sql)
    assert (err.status, err.code) == (status, code)


def test_very_long_query_is_refused_before_parsing():
    sql = "SELECT 1 AS a" + " + 1" * 10_000
    err = refused(sql)
    assert (err.status, err.code) == (413, "sql-too-long")
    assert str(S.MAX_SQL_LENGTH) in err.en


def test_deeply_nested_query_is_refused():
    err = refused("SELECT " + "(" * 3000 + "1" + ")" * 3000)
    assert err.code == "sql-too-complex" and err.status in {400, 413}


def test_error_converts_to_problem():
    err = refused("DROP TABLE t")
    p = err.to_problem()
    assert p.status == 403 and p.code == "sql-read-only"
    body = p.to_dict("en")
    assert body["detail"] == err.en and body["vi"]["detail"] == err.vi


# --------------------------------------------------------------------------------------------------------
# Runtime errors, limits
# --------------------------------------------------------------------------------------------------------


def test_engine_errors_are_clear_and_leak_no_path(tables, files):
    err = refused(f"SELECT no_such_column FROM {q(WARDS)}", tables)
    assert (err.status, err.code) == (400, "sql-error")
    assert "no_such_column" in err.en
    err = refused(f"SELECT CAST(name AS INTEGER) FROM {q(WARDS)}", tables)
    assert (err.status, err.code) == (400, "sql-error")
    assert str(files["wards"].parent) not in err.en + err.vi


def test_corrupt_table_file_is_unavailable_without_path(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    err = refused('SELECT * FROM "t1"', {"t1": bad})
    assert (err.status, err.code) == (503, "sql-table-unavailable")
    assert str(tmp_path) not in err.en + err.vi + json.dumps(err.extra)
    err = refused('SELECT * FROM "t2"', {"t2": tmp_path / "missing.parquet"})
    assert (err.status, err.code) == (503, "sql-table-unavailable")


def test_row_limit_truncates(tables):
    r = run_sql(f"SELECT seq FROM {q(READINGS)} ORDER BY seq", tables, row_limit=10)
    assert r.truncated is True
    assert r.rows == [[i] for i in range(10)]
    r = run_sql(f"SELECT seq FROM {q(READINGS)}", tables, row_limit=25)
    assert r.truncated is False and len(r.rows) == 25
    r = run_sql(f"SELECT seq FROM {q(READINGS)}", tables, row_limit=24)
    assert r.truncated is True and len(r.rows) == 24


def test_row_limit_streams_instead_of_materialising(files):
    # 10^10 rows would never fit in 64 MB: only row_limit + 1 of them may be produced.
    r = run_sql("SELECT a.id, b.id FROM big a, big b", {"big": files["big"]}, row_limit=5,
                memory_limit="64MB", timeout_s=30)
    assert r.truncated is True and len(r.rows) == 5


def test_timeout_interrupts_and_closes_connection(files, monkeypatch):
    opened: list[duckdb.DuckDBPyConnection] = []
    real = S._sandbox

    def spy(*a, **kw):
        con = real(*a, **kw)
        opened.append(con)
        return con

    monkeypatch.setattr(S, "_sandbox", spy)
    tables = {"big": files["big"]}
    with pytest.raises(SqlError) as info:
        run_sql("SELECT sum(a.id * b.id) FROM big a CROSS JOIN big b", tables, timeout_s=0.5)
    err = info.value
    assert (err.status, err.code) == (408, "sql-timeout")
    assert "ran past 0.5 s" in err.en and "0.5 giây" in err.vi
    assert len(opened) == 1
    with pytest.raises(duckdb.ConnectionException):
        opened[0].execute("SELECT 1")
    # The next query gets a fresh connection and runs normally.
    assert run_sql("SELECT count(*) FROM big", tables).rows == [[100000]]


def test_memory_limit(files):
    with pytest.raises(SqlError) as info:
        run_sql("SELECT string_agg(a.id::VARCHAR || b.id::VARCHAR, ',') FROM big a, big b",
                {"big": files["big"]}, memory_limit="32MB", timeout_s=60)
    assert (info.value.status, info.value.code) == (422, "sql-memory-limit")
    assert "32MB" in info.value.en


# --------------------------------------------------------------------------------------------------------
# Layer 2: the sandbox holds even if validation were bypassed
# --------------------------------------------------------------------------------------------------------


@pytest.fixture()
def sandbox(files):
    con = S._sandbox({"wards": files["wards"]}, memory_limit="128MB", threads=1)
    yield con
    con.close()


def raw(con, statement: str):
    return S._execute_unvalidated(con, statement, timeout_s=5, row_limit=100)


def test_sandbox_reads_its_tables(sandbox):
    cols, types, rows, truncated = raw(sandbox, "SELECT count(*) AS n FROM wards")
    assert cols == ["n"] and rows == [(5,)] and truncated is False


@pytest.mark.parametrize("statement", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_blob('/etc/hostname')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM '/etc/passwd'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SET allowed_paths = ['/']",
    "SET lock_configuration = false",
    "SET memory_limit = '100GB'",
    "RESET enable_external_access",
])
def test_sandbox_blocks_files_extensions_and_settings(sandbox, statement):
    with pytest.raises(duckdb.Error):
        raw(sandbox, statement)
    assert raw(sandbox, "SELECT current_setting('enable_external_access')")[2] == [(False,)]
    assert raw(sandbox, "SELECT current_setting('lock_configuration')")[2] == [(True,)]


def test_sandbox_cannot_read_other_lake_files(sandbox, files, tmp_path):
    other = str(files["secret"])
    for statement in (f"SELECT * FROM read_parquet('{other}')", f"SELECT * FROM '{other}'",
                      f"SELECT * FROM read_parquet('{files['wards'].parent}/*.parquet')"):
        with pytest.raises(duckdb.Error) as info:
            raw(sandbox, statement)
        assert "top secret" not in str(info.value)
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("password=hunter2")
    with pytest.raises(duckdb.PermissionException):
        raw(sandbox, f"SELECT * FROM read_text('{secret_file}')")


def test_sandbox_cannot_write_or_attach(sandbox, tmp_path):
    out = tmp_path / "out.csv"
    with pytest.raises(duckdb.PermissionException):
        raw(sandbox, f"COPY (SELECT * FROM wards) TO '{out}'")
    with pytest.raises(duckdb.PermissionException):
        raw(sandbox, f"ATTACH '{tmp_path / 'x.duckdb'}' AS x")
    with pytest.raises(duckdb.PermissionException):
        raw(sandbox, f"EXPORT DATABASE '{tmp_path / 'exp'}'")
    assert list(tmp_path.iterdir()) == []


def test_run_sql_maps_sandbox_refusals(files, monkeypatch):
    # Simulate a validator hole: the sandbox refusal still comes back as a clean SqlError.
    monkeypatch.setattr(S, "_check_tree", lambda tree, found: None)
    err = refused("SELECT * FROM read_csv('/etc/passwd')", {"wards": files["wards"]})
    assert (err.status, err.code) == (403, "sql-sandbox")


@pytest.mark.parametrize("rendered",
                         ["SELECT 1; DROP TABLE x", "EXPLAIN SELECT 1", "SELECT $name", "SELEC 1"])
def test_engine_parser_must_agree(files, monkeypatch, rendered):
    # Should sqlglot ever render something DuckDB reads as more (or other) than one SELECT, nothing runs.
    monkeypatch.setattr(S, "_statement", lambda tree, found: rendered)
    err = refused("SELECT 1", {"wards": files["wards"]})
    assert (err.status, err.code) == (400, "sql-unsupported")


def test_rendering_is_revalidated(monkeypatch, files):
    # A rendering that would read another table than the one validated is refused.
    real_sql = S.exp.Expression.sql
    monkeypatch.setattr(S.exp.Expression, "sql",
                        lambda self, *a, **kw: real_sql(self, *a, **kw).replace('"a"', '"b"'))
    err = refused('SELECT * FROM "a"', {"a": files["wards"], "b": files["secret"]})
    assert (err.status, err.code) == (400, "sql-unsupported")


def test_allowed_function_classes_are_sane():
    classes = S._allowed_func_classes()
    assert S.exp.Lower in classes and S.exp.Count in classes and S.exp.RowNumber in classes
    assert not classes & {S.exp.ReadCSV, S.exp.ReadParquet, S.exp.Anonymous}
