# tdb.py: the store of an instance folder for the black-box tests' Python
# (the attacks that rewrite the audit chain), on either backend:
#
#   import sys; sys.path.insert(0, TESTS_DIR); import tdb
#   c = tdb.connect(DIR)                     # DIR holds govpki.json
#   rows = c.execute("SELECT ... WHERE x = ?", (v,)).fetchall()
#   c.execute("UPDATE ... SET a = ? WHERE b = ?", (bytes_or_str_or_int, k))
#   c.commit()
#
# SQLite: DIR/govpki.db through Python's sqlite3. PostgreSQL (govpki.json
# names store.url; a test cluster, no password): through psql, as no
# PostgreSQL driver for Python is installed. A SELECT comes back as JSON
# (json_agg), its BYTEA columns as bytes (JSON strings "\x<hex>": no text
# the tests read starts so); writes are kept and run in one transaction by
# commit(), and before the next SELECT. Parameters are "?" as in sqlite3,
# turned into literals: str quoted, bytes '\x..'::bytea, None NULL.
import json
import re
import sqlite3
import subprocess


class _Rows:
    def __init__(self, rows):
        self.rows = rows

    def fetchall(self):
        return self.rows

    def fetchone(self):
        return self.rows[0] if self.rows else None

    def __iter__(self):
        return iter(self.rows)


def _lit(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (bytes, bytearray)):
        return "'\\x%s'::bytea" % bytes(v).hex()
    return "'" + str(v).replace("'", "''") + "'"


def _bind(sql, params):
    parts = sql.split("?")
    if len(parts) != len(params) + 1:
        raise ValueError("tdb: %d parameters for %d placeholders: %s" % (len(params), len(parts) - 1, sql))
    out = parts[0]
    for v, p in zip(params, parts[1:]):
        out += _lit(v) + p
    return out


_HEX = re.compile(r"\\x([0-9a-f]*)\Z")


def _val(v):
    if isinstance(v, str):
        m = _HEX.match(v)
        if m:
            return bytes.fromhex(m.group(1))
    return v


class _Pg:
    def __init__(self, url):
        self.url = url
        self.pending = []

    def _psql(self, sql):
        return subprocess.run(["psql", self.url, "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1"],
                              input=sql, capture_output=True, text=True, check=True).stdout

    def execute(self, sql, params=()):
        sql = _bind(sql, params)
        if not sql.lstrip().upper().startswith("SELECT"):
            self.pending.append(sql)
            return _Rows([])
        self.commit()
        out = self._psql("SELECT coalesce(json_agg(q), '[]') FROM (%s) q;" % sql)
        return _Rows([tuple(_val(v) for v in r.values()) for r in json.loads(out)])

    def commit(self):
        if self.pending:
            self._psql("BEGIN;\n" + ";\n".join(self.pending) + ";\nCOMMIT;\n")
            self.pending = []


def connect(d):
    url = json.load(open(d + "/govpki.json")).get("store", {}).get("url", "")
    if url:
        return _Pg(url)
    return sqlite3.connect(d + "/govpki.db")
