"""A loopback OpenAI ``/v1/organization/costs`` server whose pages are computed before timing.

Every ingest client in the benchmark (this project, dlt, the floor) reads the SAME bytes from
the same server, so only the clients differ. Pages hold ``PAGE`` results of one daily bucket,
linked by OpenAI's cursor (``next_page`` / ``has_more``; the cursor is sent back as ``page``).
The sandbox (``lib.sandbox``) regenerates a whole day per request, which is right for its tests
but far too slow to serve a million rows; this server only looks a page up.

    python benchmarks/page_server.py --rows 100000     # prints "port N" when ready

Amounts are decimal text with at most 6 places (``amount.value`` is a JSON number, as OpenAI
sends it); row ``i`` has ``project_id`` ``proj_{i % 50}`` and a unique ``line_item``, so the
merge keys (bucket start, project, line item) are unique.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PAGE = 1_000
DAY = dt.date(2026, 11, 1)
START = int(dt.datetime(DAY.year, DAY.month, DAY.day, tzinfo=dt.UTC).timestamp())


def amount(i: int) -> Decimal:
    """Row ``i``'s amount: exact, up to 6 decimal places."""
    return Decimal(((i * 7919) % 1_000_003) + 1).scaleb(-6)


def expected_sum(rows: int) -> Decimal:
    """The exact sum of every amount (what each client must load)."""
    return sum((amount(i) for i in range(rows)), Decimal(0))


def page_body(number: int, rows: int) -> bytes:
    """Page ``number`` (0-based) of ``rows`` results, as the bytes served."""
    first = number * PAGE
    results = [
        f'{{"object": "organization.costs.result", "amount": {{"value": {amount(i)}, '
        f'"currency": "usd"}}, "line_item": "gpt-4o-2024-08-06, input #{i}", '
        f'"project_id": "proj_{i % 50}", "organization_id": "org-bench"}}'
        for i in range(first, min(first + PAGE, rows))
    ]
    more = first + PAGE < rows
    head = {"object": "bucket", "start_time": START, "end_time": START + 86_400}
    bucket = json.dumps(head)[:-1] + ', "results": [' + ", ".join(results) + "]}"
    tail = {"has_more": more, "next_page": f"cursor_{number + 1}" if more else None}
    return ('{"object": "page", "data": [' + bucket + "], " + json.dumps(tail)[1:]).encode()


def pages(rows: int) -> list[bytes]:
    """Every page of ``rows`` results (at least one, possibly empty)."""
    return [page_body(n, rows) for n in range(max(1, -(-rows // PAGE)))]


def serve(rows: int, port: int = 0) -> ThreadingHTTPServer:
    """A server (not yet serving) answering from the precomputed pages."""
    bodies = pages(rows)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            cursor = (parse_qs(url.query).get("page") or ["cursor_0"])[0]
            number = int(cursor.removeprefix("cursor_"))
            body = bodies[number] if url.path == "/v1/organization/costs" else b"{}"
            self.send_response(200 if url.path == "/v1/organization/costs" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def main() -> None:
    """Serve until killed; print the port once the pages are ready."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = serve(args.rows, args.port)
    print(f"port {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
