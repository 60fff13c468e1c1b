"""The test stack itself: each process gets a port of its own, and a process that could not
listen on its port is never mistaken for one that did (CI stop 30 once signed up on the API's
own port: the frontend had been given the API's port, failed to listen, and the API's answer
to `GET /` looked like the frontend's)."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stack import FrontendServer, free_port


def test_free_port_never_hands_out_a_port_twice():
    ports = [free_port() for _ in range(3000)]
    assert len(set(ports)) == len(ports)


class NotFound(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_frontend_that_cannot_listen_does_not_start():
    """Another process already answers on the frontend's port, as the API did in that run."""
    other = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    frontend = FrontendServer("http://localhost:1", port=other.server_address[1])
    try:
        with pytest.raises(RuntimeError, match="not listening"):
            frontend.start()
    finally:
        frontend.cleanup()
        other.shutdown()
        other.server_close()
