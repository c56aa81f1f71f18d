"""A receiver for trying webhooks out locally: verifies each delivery with the subscription's secret
(`standardwebhooks`, as a council's system would) and prints the event.

    .venv/bin/python -m ictg_webhooks.devreceiver --port 9000 --secret whsec_…

Answers 204 to a delivery that verifies, 401 to one that does not. Development only.
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ictg-webhooks-devreceiver", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", action="append", default=[], help="a subscription's whsec_… secret (repeat)")
    args = parser.parse_args(argv)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            verified = False
            for secret in args.secret:
                try:
                    Webhook(secret).verify(body, headers)
                    verified = True
                    break
                except (WebhookVerificationError, ValueError):
                    continue
            event = json.loads(body or b"{}")
            mark = "verified" if verified else "NOT VERIFIED"
            print(f"{mark} {headers.get('webhook-id')} {event.get('type')} {json.dumps(event.get('data'))}", flush=True)
            self.send_response(204 if verified else 401)
            self.end_headers()

        def log_message(self, format: str, *values: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on http://127.0.0.1:{args.port}/ (Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
