"""moto's server, answering one request at a time.

moto's DynamoDB backend does not lock its tables, so under its default threaded server two
concurrent `UpdateItem ... ADD` requests can read the same counter and lose an increment, which
real DynamoDB never does. Serializing requests (connections are still accepted concurrently)
restores the per-item atomicity the repository relies on.

Usage: python moto_server.py HOST PORT
"""

import os
import sys
import threading

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


class Serialized:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            # Materialize the body inside the lock: the work happens while it is produced.
            return list(self.app(environ, start_response))


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, Serialized(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
