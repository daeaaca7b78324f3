"""A Postgres connection through libpq (ctypes), for the simulation's inserter, rescuer and checks.

libpq is already on every machine that runs `met` (it links it), so the simulation needs no
Python driver. One connection per thread; a lost connection is reopened by the next query.
"""

import ctypes
import ctypes.util

_lib = None

CONNECTION_OK = 0
PGRES_COMMAND_OK = 1
PGRES_TUPLES_OK = 2


def _libpq():
    global _lib
    if _lib is None:
        lib = ctypes.CDLL(ctypes.util.find_library("pq") or "libpq.so.5")
        lib.PQconnectdbParams.restype = ctypes.c_void_p
        lib.PQconnectdbParams.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p), ctypes.c_int]
        lib.PQstatus.argtypes = [ctypes.c_void_p]
        lib.PQstatus.restype = ctypes.c_int
        lib.PQerrorMessage.argtypes = [ctypes.c_void_p]
        lib.PQerrorMessage.restype = ctypes.c_char_p
        lib.PQfinish.argtypes = [ctypes.c_void_p]
        lib.PQfinish.restype = None
        lib.PQexecParams.restype = ctypes.c_void_p
        lib.PQexecParams.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p,
                                     ctypes.POINTER(ctypes.c_char_p), ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        lib.PQresultStatus.argtypes = [ctypes.c_void_p]
        lib.PQresultStatus.restype = ctypes.c_int
        lib.PQresultErrorMessage.argtypes = [ctypes.c_void_p]
        lib.PQresultErrorMessage.restype = ctypes.c_char_p
        lib.PQntuples.argtypes = [ctypes.c_void_p]
        lib.PQntuples.restype = ctypes.c_int
        lib.PQnfields.argtypes = [ctypes.c_void_p]
        lib.PQnfields.restype = ctypes.c_int
        lib.PQgetvalue.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        lib.PQgetvalue.restype = ctypes.c_char_p
        lib.PQgetisnull.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        lib.PQgetisnull.restype = ctypes.c_int
        lib.PQclear.argtypes = [ctypes.c_void_p]
        lib.PQclear.restype = None
        _lib = lib
    return _lib


class PGError(Exception):
    pass


class Connection:
    """One libpq connection, opened on first use and again after it failed."""

    def __init__(self, url, name="met-simulate"):
        self.url = url
        self.name = name
        self._conn = None

    def _open(self):
        lib = _libpq()
        keys = [b"dbname", b"connect_timeout", b"application_name", None]
        values = [self.url.encode(), b"3", self.name.encode(), None]
        conn = lib.PQconnectdbParams((ctypes.c_char_p * 4)(*keys), (ctypes.c_char_p * 4)(*values), 1)
        if not conn:
            raise PGError("libpq could not allocate a connection")
        if lib.PQstatus(conn) != CONNECTION_OK:
            message = (lib.PQerrorMessage(conn) or b"").decode(errors="replace").strip()
            lib.PQfinish(conn)
            raise PGError(message or "connection failed")
        self._conn = conn

    def query(self, sql, params=()):
        """Rows of `sql` (text values, None for NULL); raises PGError and drops the connection on failure."""
        lib = _libpq()
        if self._conn is None:
            self._open()
        values = [None if p is None else str(p).encode() for p in params]
        array = (ctypes.c_char_p * max(1, len(values)))(*values) if values else None
        res = lib.PQexecParams(self._conn, sql.encode(), len(values), None, array, None, None, 0)
        try:
            status = lib.PQresultStatus(res) if res else -1
            if status not in (PGRES_COMMAND_OK, PGRES_TUPLES_OK):
                message = lib.PQresultErrorMessage(res) if res else lib.PQerrorMessage(self._conn)
                message = (message or b"").decode(errors="replace").strip() or "query failed"
                self.close()
                raise PGError(message)
            rows = []
            for r in range(lib.PQntuples(res)):
                rows.append(tuple(None if lib.PQgetisnull(res, r, c) else lib.PQgetvalue(res, r, c).decode()
                                  for c in range(lib.PQnfields(res))))
            return rows
        finally:
            if res:
                lib.PQclear(res)

    def close(self):
        if self._conn is not None:
            _libpq().PQfinish(self._conn)
            self._conn = None
