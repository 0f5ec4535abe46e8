"""The DuckDB warehouse never downloads or auto-loads an extension.

A local HTTP server stands in for DuckDB's extension repository and counts the requests it
gets. A plain DuckDB connection (auto-install on, DuckDB's default) asks it for the ``inet``
extension the moment SQL calls ``html_escape``, which shows the setup can see a download; the
warehouse's connection must ask nothing and fail with a clear error.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

from lib.adapters.duckdb_warehouse import DuckDBWarehouse
from lib.errors import SqlTranslationError


class _Repository(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        self.send_error(404)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def repository() -> Iterator[tuple[str, list[str]]]:
    handler = type("Repository", (_Repository,), {"requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", handler.requests
    finally:
        server.shutdown()
        server.server_close()


def _point_at(con: duckdb.DuckDBPyConnection, url: str, tmp_path: Path) -> None:
    """Send extension downloads to the local repository, into an empty extension folder."""
    con.execute(f"SET extension_directory = '{tmp_path / 'extensions'}'")
    con.execute(f"SET custom_extension_repository = '{url}'")
    con.execute("SET autoinstall_extension_repository = ''")


def test_plain_duckdb_would_download_the_extension(repository, tmp_path):
    url, requests = repository
    con = duckdb.connect()
    _point_at(con, url, tmp_path)
    with pytest.raises(duckdb.Error):
        con.execute("SELECT html_escape('<a>')")
    assert any("inet" in r for r in requests), requests


def test_warehouse_never_downloads_or_autoloads_an_extension(repository, tmp_path):
    url, requests = repository
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    con = wh._con  # the adapter's own connection, as every query uses it
    _point_at(con, url, tmp_path)
    settings = con.execute(
        "SELECT current_setting('autoinstall_known_extensions'), "
        "current_setting('autoload_known_extensions')"
    ).fetchone()
    assert settings == (False, False)
    with pytest.raises(duckdb.CatalogException, match="inet"):
        con.execute("SELECT html_escape('<a>')")
    with pytest.raises(duckdb.Error, match="httpfs"):
        con.execute("SELECT * FROM 'http://127.0.0.1:1/x.csv'")
    assert requests == []
    wh.close()


@pytest.mark.parametrize(
    ("sql", "function"),
    [
        ("SELECT NET.HOST('https://example.com/a') AS h", "NET.HOST"),
        ("SELECT ST_GEOGPOINT(1, 2) AS p", "ST_GEOGPOINT"),
        ("SELECT FARM_FINGERPRINT('a') AS f", "FARM_FINGERPRINT"),
    ],
)
def test_sql_naming_an_extension_function_is_refused_before_duckdb(
    repository, tmp_path, sql, function
):
    url, requests = repository
    seen: list[str] = []
    wh = DuckDBWarehouse(tmp_path / "w.duckdb", on_statement=seen.append)
    _point_at(wh._con, url, tmp_path)
    with pytest.raises(SqlTranslationError, match=f"function {function} has no faithful"):
        wh.query(sql)
    assert requests == []
    assert not any(function.split(".")[-1].lower() in s.lower() for s in seen)
    wh.close()


def test_json_and_time_zones_work_without_any_download(repository, tmp_path):
    url, requests = repository
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    _point_at(wh._con, url, tmp_path)
    rows = wh.query(
        "SELECT JSON_VALUE(PARSE_JSON('{\"a\": \"x\"}'), '$.a') AS a, "
        "DATE(TIMESTAMP '2016-12-25 05:30:00+07', 'America/Los_Angeles') AS d"
    )
    assert [(r["a"], str(r["d"])) for r in rows] == [("x", "2016-12-24")]
    assert requests == []
    for command in ("INSTALL inet", "LOAD inet"):
        with pytest.raises(SqlTranslationError, match="not a BigQuery statement"):
            wh.execute(command)
    assert requests == []
    wh.close()
