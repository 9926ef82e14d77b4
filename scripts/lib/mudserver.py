#!/usr/bin/env python3
"""A small web server for the mudguard lab.

With --root it serves the files of a directory (MUD files as application/mud+json, signatures
as application/pkcs7-signature), over TLS when --cert/--key are given, and appends one line per
request to --log. Without --root it answers every request with --banner, so that a client can
tell which server it reached.
"""
import argparse
import http.server
import os
import socket
import ssl
import sys
import threading


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bind", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--root")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--log")
    p.add_argument("--banner", default="ok")
    a = p.parse_args()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            if a.log:
                with lock, open(a.log, "a") as f:
                    f.write("%s %s\n" % (self.client_address[0], fmt % args))

        def do_GET(self):
            if a.root is None:
                body = (a.banner + "\n").encode()
                ctype = "text/plain"
            else:
                name = os.path.basename(self.path.split("?", 1)[0])
                path = os.path.join(a.root, name)
                if not name or not os.path.isfile(path):
                    self.send_error(404)
                    return
                with open(path, "rb") as f:
                    body = f.read()
                ctype = "application/mud+json" if name.endswith(".json") else "application/pkcs7-signature"
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    family = socket.AF_INET6 if ":" in a.bind else socket.AF_INET

    class Server(http.server.ThreadingHTTPServer):
        address_family = family
        daemon_threads = True

    srv = Server((a.bind, a.port), Handler)
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
