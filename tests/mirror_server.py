"""A local HTTP mirror for the fetching tests: a thread serving a folder.

`MirrorServer(root)` serves `root`'s files (the cache's layout,
`<group>/<name>/<file>`) on 127.0.0.1 at a free port, records every
request, and can drop the connection half-way through a file the first
time it is asked for (`drop_once`). No network outside this machine.
"""

import http.server
import threading
import urllib.parse


class MirrorServer:
    """Serves `root` over HTTP; a context manager (stopped on exit).

    Attributes:
        url: the base URL, e.g. "http://127.0.0.1:PORT".
        hits: the paths asked for, in order.
        drop_once: paths whose first response is cut half-way.
    """

    def __init__(self, root):
        self.root = root
        self.hits = []
        self.drop_once = set()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                path = urllib.parse.unquote(self.path.lstrip("/"))
                server.hits.append(path)
                file = server.root / path
                if not file.is_file():
                    self.send_error(404)
                    return
                body = file.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if path in server.drop_once:
                    server.drop_once.discard(path)
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, daemon=True
        )
        self._thread.start()

    def stop(self):
        """Stops serving (later requests are refused); safe to repeat."""
        if not self._thread.is_alive():
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
