# lib.sh: shared by the black-box tests (tests/t_*.sh). Source it, call
# `t_ok NAME` / `t_fail NAME WHY` per case (or `t_check NAME cmd...`), and end
# with `t_done MODULE`. Every test works in its own temporary directory,
# removed on every path, and anything it starts is stopped by t_cleanup.
set -u
T_PASSED=0
T_FAILED=0
T_TMP=$(mktemp -d /tmp/govpki-test.XXXXXX)
T_PIDS=""
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
	rm -rf "$T_TMP"
}
trap t_cleanup EXIT INT TERM

t_ok() { T_PASSED=$((T_PASSED + 1)); echo "ok - $1"; }
t_fail() { T_FAILED=$((T_FAILED + 1)); echo "not ok - $1: $2"; }

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

# t_setcfg FILE SECTION.FIELD=JSON...: sets fields of a govpki.json.
t_setcfg() {
	python3 - "$@" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    sec, key = k.split(".")
    c.setdefault(sec, {})[key] = json.loads(v)
json.dump(c, open(p, "w"), indent=2)
EOF
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

# t_wait_http URL [SECONDS]: waits until URL answers (any status).
t_wait_http() {
	local url=$1 n=${2:-20} i
	for i in $(seq 1 $((n * 10))); do
		curl -s -o /dev/null -k --max-time 1 "$url" && return 0
		sleep 0.1
	done
	return 1
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
# t_jget FILE EXPR: a Python expression on the JSON in FILE (as j).
t_jget() {
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null
}
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
# it on free loopback ports, public $PUB and admin $ADM (stopped by
# t_cleanup); cd to $T_TMP. When either fails, ends the test NAME.
t_instance() {
	D=$T_TMP/inst
	local p1 p2
	p1=$(t_free_port)
	p2=$(t_free_port)
	PUB=http://127.0.0.1:$p1
	ADM=https://127.0.0.1:$p2
	cd "$T_TMP" || exit 1
	if ! "$GOVPKI" init --dir "$D" >init.out 2>&1; then
		t_fail "init" "$(tail -n 3 init.out | tr '\n' ' ')"; t_done "$1"; exit 1
	fi
	GOVPKI_TEST_CLOCK=ok t_bg "$GOVPKI" serve --dir "$D" --http "127.0.0.1:$p1" \
		--https "127.0.0.1:$p2" >serve.out 2>serve.err
	if ! t_wait_http "$PUB/healthz" 30; then
		t_fail "serve starts" "$(tail -n 5 serve.err | tr '\n' ' ')"; t_done "$1"; exit 1
	fi
}
