# lib.sh: shared by the black-box tests (tests/t_*.sh). Source it, call
# `t_ok NAME` / `t_fail NAME WHY` per case (or `t_check NAME cmd...`), and end
# with `t_done MODULE`. Every test works in its own temporary directory,
# removed on every path, and anything it starts is stopped by t_cleanup.
set -u
T_PASSED=0
T_FAILED=0
T_TMP=$(mktemp -d /tmp/govpki-test.XXXXXX)
T_PIDS=""
T_PG_DIRS=""
T_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GOVPKI=${GOVPKI:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/govpki}
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

t_cleanup() {
	local p
	for p in $T_PIDS; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in $T_PIDS; do
		for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	for p in $T_PG_DIRS; do
		bash "$T_LIB_DIR/pg.sh" stop "$p"
	done
	rm -rf "$T_TMP"
}
trap t_cleanup EXIT INT TERM

t_ok() { T_PASSED=$((T_PASSED + 1)); echo "ok - $1"; }
t_fail() { T_FAILED=$((T_FAILED + 1)); echo "not ok - $1: $2"; }

# t_flip FILE OFFSET: inverts the byte at OFFSET, so the file changes
# whatever it held there (writing a fixed byte leaves 1 file in 256 as it was).
t_flip() {
	python3 -c 'import sys
p, i = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(i); b = f.read(1); f.seek(i); f.write(bytes([b[0] ^ 0xff]))' "$1" "$2"
}

# t_check NAME CMD...: passes when CMD exits 0.
t_check() {
	local name=$1; shift
	if "$@" >"$T_TMP/last.out" 2>&1; then t_ok "$name"; else
		t_fail "$name" "command failed: $* ($(tail -n 3 "$T_TMP/last.out" | tr '\n' ' '))"; fi
}

# t_refuse NAME PATTERN CMD...: passes when CMD exits non-zero and its output
# matches PATTERN (the error names the field or file).
t_refuse() {
	local name=$1 pat=$2; shift 2
	if "$@" >"$T_TMP/last.out" 2>&1; then
		t_fail "$name" "command succeeded but should have failed: $*"
	elif grep -Eq -- "$pat" "$T_TMP/last.out"; then t_ok "$name"
	else t_fail "$name" "output lacks /$pat/: $(tail -n 3 "$T_TMP/last.out" | tr '\n' ' ')"; fi
}

t_done() {
	echo "$1: $T_PASSED passed, $T_FAILED failed"
	[ "$T_FAILED" -eq 0 ]
}

# A throwaway SoftHSM token store: sets SOFTHSM2_CONF to it.
t_softhsm() {
	mkdir -p "$T_TMP/softhsm/tokens"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$T_TMP/softhsm/tokens" >"$T_TMP/softhsm/softhsm2.conf"
	export SOFTHSM2_CONF="$T_TMP/softhsm/softhsm2.conf"
}

# t_setcfg FILE SECTION.FIELD=JSON|FIELD=JSON...: sets fields of a
# govpki.json (FIELD alone: a top-level one).
t_setcfg() {
	python3 - "$@" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    if "." in k:
        sec, key = k.split(".")
        c.setdefault(sec, {})[key] = json.loads(v)
    else:
        c[k] = json.loads(v)
json.dump(c, open(p, "w"), indent=2)
EOF
}

# t_sql DIR SQL: runs SQL on DIR's store as another process (or an editor
# of the database) would: DIR/govpki.db with the sqlite3 shell, waiting up
# to 10 s for a lock, or, when DIR's govpki.json names a PostgreSQL
# store.url (a test cluster: no password), with psql; rows come out alike
# ("|" between columns, no header).
t_sql() {
	local url
	url=$(t_store_url "$1")
	if [ -n "$url" ]; then
		PGOPTIONS="-c client_min_messages=warning" psql "$url" -X -q -tA -v ON_ERROR_STOP=1 -c "$2"
	else
		sqlite3 -cmd '.timeout 10000' "$1/govpki.db" "$2"
	fi
}
# t_sqlj DIR SQL EXPR: a Python expression (on j) over the JSON text of
# the one value SQL selects (e.g. the details of an audit record), alike on
# both backends (json_extract() gives 1 on SQLite where PostgreSQL's gives
# true).
t_sqlj() {
	t_sql "$1" "$2" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(eval(sys.argv[1]))' "$3" 2>/dev/null
}
# t_sqljs DIR SQL EXPR: the same over every value SQL selects, one row a
# line, as the list js (e.g. sums over the aggregated records' kinds).
t_sqljs() {
	t_sql "$1" "$2" | python3 -c 'import json,sys; js=[json.loads(l) for l in sys.stdin if l.strip()]; print(eval(sys.argv[1]))' "$3" 2>/dev/null
}
# t_dump DIR FILE: everything DIR's store holds, into FILE, for a search
# of what must not be stored: SQLite's file (and its WAL), or PostgreSQL's
# pg_dump of the database. Fails when it cannot, or FILE comes out empty.
t_dump() {
	local url
	url=$(t_store_url "$1")
	if [ -n "$url" ]; then
		pg_dump --data-only "$url" >"$2" || return 1
	else
		cat "$1/govpki.db" >"$2" || return 1
		[ ! -e "$1/govpki.db-wal" ] || cat "$1/govpki.db-wal" >>"$2" || return 1
	fi
	[ -s "$2" ]
}
# t_store_url DIR: the PostgreSQL store.url of DIR's govpki.json; empty
# for a SQLite store.
t_store_url() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("store",{}).get("url",""))' \
		"$1/govpki.json" 2>/dev/null
}
# t_is_pg DIR: true when DIR's store is a PostgreSQL database.
t_is_pg() { [ -n "$(t_store_url "$1")" ]; }

# t_unguard DIR TABLE...: drops the append-only triggers of each TABLE in
# DIR's store (SQLite: TABLE_no_update and TABLE_no_delete; PostgreSQL:
# TABLE_no_update, which covers DELETE too, and TABLE_no_truncate), as an
# insider with write access to the database would before editing it.
t_unguard() {
	local dir=$1 t sql=""; shift
	for t in "$@"; do
		if t_is_pg "$dir"; then
			sql="$sql DROP TRIGGER IF EXISTS ${t}_no_update ON $t; DROP TRIGGER IF EXISTS ${t}_no_truncate ON $t;"
		else
			sql="$sql DROP TRIGGER IF EXISTS ${t}_no_update; DROP TRIGGER IF EXISTS ${t}_no_delete;"
		fi
	done
	t_sql "$dir" "$sql"
}

# t_inject DIR NAME "BEFORE INSERT|UPDATE ON TABLE" CONDITION MESSAGE: a
# trigger NAME that makes every matching write in DIR's store fail with
# MESSAGE while CONDITION (SQL on NEW, alike on both backends) holds, the
# way a full disk or a failing database would; t_uninject DIR NAME TABLE
# removes it.
t_inject() {
	if t_is_pg "$1"; then
		t_sql "$1" "CREATE FUNCTION $2_f() RETURNS trigger LANGUAGE plpgsql AS \$\$
			BEGIN IF $4 THEN RAISE EXCEPTION '$5'; END IF; RETURN NEW; END \$\$;
			CREATE TRIGGER $2 $3 FOR EACH ROW EXECUTE FUNCTION $2_f();"
	else
		t_sql "$1" "CREATE TRIGGER $2 $3 WHEN $4 BEGIN SELECT RAISE(ABORT, '$5'); END"
	fi
}
t_uninject() {
	if t_is_pg "$1"; then
		t_sql "$1" "DROP TRIGGER $2 ON $3; DROP FUNCTION $2_f();"
	else
		t_sql "$1" "DROP TRIGGER $2"
	fi
}

# t_copy SRC DST: a copy of the instance SRC (stopped) in DST, with a copy
# of its store: the file for SQLite; for PostgreSQL a new database made
# from SRC's (CREATE DATABASE ... TEMPLATE), named in DST's govpki.json.
t_copy() {
	cp -a "$1" "$2" || return 1
	local url
	url=$(t_store_url "$1")
	[ -n "$url" ] || return 0
	python3 - "$url" "$2/govpki.json" "$T_TMP/pg.count" <<'PY'
import json, os, re, subprocess, sys
url, cfg, counter = sys.argv[1:4]
n = int(open(counter).read()) + 1 if os.path.exists(counter) else 1
open(counter, "w").write("%d\n" % n)
m = re.fullmatch(r"(postgres(?:ql)?://[^/?]*/)([^?]+)(\?.*)?", url)
pre, src, query, dst = m.group(1), m.group(2), m.group(3) or "", "i%d" % n
subprocess.run(["psql", pre + "postgres" + query, "-X", "-q", "-v", "ON_ERROR_STOP=1",
                "-c", 'CREATE DATABASE "%s" TEMPLATE "%s"' % (dst, src)], check=True)
c = json.load(open(cfg))
c["store"]["url"] = pre + dst + query
json.dump(c, open(cfg, "w"), indent=2)
PY
}

# A free TCP port on 127.0.0.1.
t_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# t_bg CMD...: starts CMD in the background, remembered for t_cleanup.
t_bg() {
	"$@" &
	T_PIDS="$T_PIDS $!"
	T_LAST_PID=$!
}

# t_stop PID: SIGTERM, then SIGKILL if PID has not exited within 10 s.
t_stop() {
	kill -TERM "$1" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null
}

# t_wait_exit PID TENTHS: waits up to TENTHS tenths of a second for PID (a
# child of this shell, started by t_bg) to exit; returns its exit status,
# or 124 when it is still running.
t_wait_exit() {
	local pid=$1 n=$2
	for _ in $(seq 1 "$n"); do
		if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; return; fi
		sleep 0.1
	done
	return 124
}

# t_wait_http URL [SECONDS]: waits until URL answers (any status).
t_wait_http() {
	local url=$1 n=${2:-20} i
	for i in $(seq 1 $((n * 10))); do
		curl -s -o /dev/null -k --max-time 1 "$url" && return 0
		sleep 0.1
	done
	return 1
}

# t_serve DIR [serve args...]: `govpki serve --dir DIR` on fresh loopback
# ports, public $PUB (http) and admin $ADM (https), its output appended to
# $T_TMP/serve.out and $T_TMP/serve.err; its pid in $T_SERVE_PID (stopped
# by t_cleanup, or t_stop). Returns 0 once $PUB/healthz answers, 1 when it
# does not within 30 s.
t_serve() {
	local dir=$1 p1 p2; shift
	p1=$(t_free_port)
	p2=$(t_free_port)
	PUB=http://127.0.0.1:$p1
	ADM=https://127.0.0.1:$p2
	t_bg "$GOVPKI" serve --dir "$dir" --http "127.0.0.1:$p1" \
		--https "127.0.0.1:$p2" "$@" >>"$T_TMP/serve.out" 2>>"$T_TMP/serve.err"
	T_SERVE_PID=$T_LAST_PID
	t_wait_http "$PUB/healthz" 30
}
# t_serve_up NAME DIR [serve args...]: t_serve; when the server does not
# answer, fails "serve starts" with its last errors and ends the test NAME.
t_serve_up() {
	local name=$1; shift
	t_serve "$@" && return 0
	t_fail "serve starts" "$(tail -n 5 "$T_TMP/serve.err" | tr '\n' ' ')"; t_done "$name"; exit 1
}

# HTTP cases of the API tests. t_req NAME URL [curl args...]: writes the
# body to $T_TMP/NAME.body and prints the status ("000" when the
# connection or TLS failed).
t_req() {
	local name=$1 url=$2; shift 2
	curl -s --max-time 20 -o "$T_TMP/$name.body" -w '%{http_code}' "$@" "$url" 2>/dev/null
}
# t_expect NAME WANT GOT: the status of case NAME.
t_expect() {
	if [ "$3" = "$2" ]; then t_ok "$1"; else
		t_fail "$1" "status $3, want $2 ($(head -c 400 "$T_TMP/$1.body" 2>/dev/null))"; fi
}
# t_expect_err NAME STATUS GOT PATTERN: the status, and an error body
# matching PATTERN (naming the field).
t_expect_err() {
	if [ "$3" = "$2" ] && grep -Eq -- "$4" "$T_TMP/$1.body"; then t_ok "$1"; else
		t_fail "$1" "status $3 (want $2), body lacks /$4/: $(head -c 400 "$T_TMP/$1.body" 2>/dev/null)"; fi
}
# t_admin CERTBASE NAME PATH [curl args...]: t_req of $ADM/PATH with the
# client certificate CERTBASE.pem and its key CERTBASE.key, trusting the
# instance root $D/certs/root.pem.
t_admin() {
	local who=$1 name=$2 path=$3; shift 3
	t_req "$name" "$ADM$path" --cacert "$D/certs/root.pem" \
		--cert "$who.pem" --key "$who.key" "$@"
}
# t_jget FILE EXPR: a Python expression on the JSON in FILE (as j).
t_jget() {
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null
}
# t_csr NAME [openssl -newkey args]: a new key $T_TMP/NAME.key and its CSR
# $T_TMP/NAME.csr (an EC P-256 key unless the args say otherwise; the CA
# ignores the subject).
t_csr() {
	local n=$1; shift
	[ $# -gt 0 ] || set -- ec -pkeyopt ec_paramgen_curve:P-256
	openssl req -new -newkey "$@" -nodes -keyout "$T_TMP/$n.key" \
		-subj "/CN=ignored by the CA" -out "$T_TMP/$n.csr" 2>/dev/null
}
# t_serial PEM: the serial of the certificate in the file PEM as govpki
# writes it (lower-case hex, no leading zeros).
t_serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//'; }
# t_issue_json FILE PROFILE CSR SUBJECT_JSON: an issuance request body.
t_issue_json() {
	python3 - "$@" <<'PY'
import json, sys
out, profile, csr, subject = sys.argv[1:5]
json.dump({"profile": profile, "csr": open(csr).read(),
           "subject": json.loads(subject)}, open(out, "w"), ensure_ascii=False)
PY
}

# t_instance NAME: `govpki init` in $D ($T_TMP/inst) and `govpki serve` of
# it (t_serve_up: public $PUB and admin $ADM, stopped by t_cleanup); cd to
# $T_TMP. When either fails, ends the test NAME.
t_instance() {
	D=$T_TMP/inst
	cd "$T_TMP" || exit 1
	if ! "$GOVPKI" init --dir "$D" >init.out 2>&1; then
		t_fail "init" "$(tail -n 3 init.out | tr '\n' ' ')"; t_done "$1"; exit 1
	fi
	GOVPKI_TEST_CLOCK=ok t_serve_up "$1" "$D"
}

# PostgreSQL. t_pg: a throwaway cluster (tests/pg.sh) for this test, on a
# Unix socket in its own folder, stopped by t_cleanup (and by its watchdog
# should this shell die): $PG_DIR is the folder, $PG_URL its "postgres"
# database. t_pgsql ARGS...: psql on it as the superuser. t_pgdb NAME:
# creates database NAME and prints its URL (user govpki, no password).
t_pg() {
	local out
	out=$(bash "$T_LIB_DIR/pg.sh" start $$) || return 1
	PG_DIR=$(echo "$out" | sed -n 1p)
	PG_URL=$(echo "$out" | sed -n 2p)
	T_PG_DIRS="$T_PG_DIRS $PG_DIR"
}
t_pgsql() { bash "$T_LIB_DIR/pg.sh" psql "$PG_DIR" "$@"; }
t_pgdb() {
	t_pgsql -d postgres -c "CREATE DATABASE $1" >/dev/null &&
		echo "postgresql:///$1?host=$PG_DIR&user=govpki"
}

# GOVPKI_TEST_STORE=pg: the test runs on PostgreSQL. Every `govpki init`
# it makes gets --store with a new database of a cluster of its own,
# through a wrapper that stands in for $GOVPKI.
if [ "${GOVPKI_TEST_STORE:-}" = pg ]; then
	if ! t_pg; then
		echo "not ok - PostgreSQL cluster: tests/pg.sh start failed"
		echo "pg: 0 passed, 1 failed"
		exit 1
	fi
	cat >"$T_TMP/govpki-pg" <<EOF
#!/usr/bin/env bash
if [ "\${1:-}" = init ]; then
	n=\$(( \$(cat "$T_TMP/pg.count" 2>/dev/null || echo 0) + 1 ))
	echo "\$n" >"$T_TMP/pg.count"
	bash "$T_LIB_DIR/pg.sh" psql "$PG_DIR" -d postgres -c "CREATE DATABASE i\$n" >/dev/null || exit 1
	shift
	exec "$GOVPKI" init --store "postgresql:///i\$n?host=$PG_DIR&user=govpki" "\$@"
fi
exec "$GOVPKI" "\$@"
EOF
	chmod +x "$T_TMP/govpki-pg"
	GOVPKI=$T_TMP/govpki-pg
fi
