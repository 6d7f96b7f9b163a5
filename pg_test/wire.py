"""A minimal client of Postgres' extended query protocol (v3, trust authentication, Unix socket),
for what libpq-based drivers do not let a test do: run a portal in pieces with other portals run in
between."""
import os, socket, struct
from harness import ARGS


class Wire:
    def __init__(self, user, db="pgtest"):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(os.path.join(ARGS.host, f".s.PGSQL.{ARGS.port}"))
        params = b"user\0" + user.encode() + b"\0database\0" + db.encode() + b"\0\0"
        self.s.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
        self.until(b"Z")

    def msg(self, kind, body=b""):
        self.s.sendall(kind + struct.pack("!i", len(body) + 4) + body)

    def recv(self):
        head = b""
        while len(head) < 5:
            head += self.s.recv(5 - len(head))
        kind, n = head[:1], struct.unpack("!i", head[1:])[0]
        body = b""
        while len(body) < n - 4:
            body += self.s.recv(n - 4 - len(body))
        return kind, body

    def until(self, stop=b"Z"):
        """Messages up to `stop`: ('E', {field: text}) for errors, ('D', row) for rows, ('C', tag)."""
        out = []
        while True:
            kind, body = self.recv()
            if kind == b"E":
                out.append(("E", {f[:1].decode(): f[1:].decode(errors="replace") for f in body.split(b"\0") if f}))
            elif kind == b"D":
                n, i, row = struct.unpack("!h", body[:2])[0], 2, []
                for _ in range(n):
                    length = struct.unpack("!i", body[i:i + 4])[0]
                    i += 4
                    row.append(None if length < 0 else body[i:i + length].decode())
                    i += max(length, 0)
                out.append(("D", row))
            elif kind == b"C":
                out.append(("C", body.rstrip(b"\0").decode()))
            if kind == stop:
                return out

    def query(self, sql):
        self.msg(b"Q", sql.encode() + b"\0")
        return self.until()

    def parse(self, name, sql):
        self.msg(b"P", name.encode() + b"\0" + sql.encode() + b"\0" + struct.pack("!h", 0))

    def bind(self, portal, name):
        self.msg(b"B", portal.encode() + b"\0" + name.encode() + b"\0" + struct.pack("!hhh", 0, 0, 0))

    def execute(self, portal, max_rows=0):
        self.msg(b"E", portal.encode() + b"\0" + struct.pack("!i", max_rows))

    def sync(self):
        self.msg(b"S")
        return self.until()

    def close(self):
        self.msg(b"X")
        self.s.close()
