#!/usr/bin/env bash
# t_server.sh: `govpki serve` end to end. A fresh instance, both listeners
# on free 127.0.0.1 ports, then: public /healthz, /metrics, /certs; the admin
# listener refusing no certificate, a foreign CA's certificate (even with a
# real serial and role) and a certificate put on hold; each role allowed
# only its own routes, every 403 audited; the body cap; SIGTERM drains,
# exits 0, and leaves a log that verifies and ends with server.stop and a
# checkpoint.
. "$(dirname "$0")/lib.sh"

D=$T_TMP/inst
P1=$(t_free_port)
P2=$(t_free_port)
PUB=http://127.0.0.1:$P1
ADM=https://127.0.0.1:$P2

# admin ROLE NAME PATH [curl args...]: t_admin with the init
# certificate of ROLE.
admin() { local role=$1; shift; t_admin "$D/admin/$role" "$@"; }

if [ ! -x "$GOVPKI" ]; then
	t_fail "binary" "$GOVPKI not built"
	t_done server
	exit 1
fi

if ! "$GOVPKI" init --dir "$D" --dev-clock >"$T_TMP/init.out" 2>&1; then
	t_fail "init" "$(tail -n 3 "$T_TMP/init.out" | tr '\n' ' ')"
	t_done server
	exit 1
fi
t_ok "init"

# A small body cap and a 1 s checkpoint period, so that both are observable.
python3 - "$D/govpki.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c.setdefault("limits", {})["max_body_bytes"] = 4096
c.setdefault("audit", {})["checkpoint_s"] = 1
json.dump(c, open(p, "w"), indent=2)
EOF

t_bg "$GOVPKI" serve --dir "$D" --http "127.0.0.1:$P1" \
	--https "127.0.0.1:$P2" >"$T_TMP/serve.out" 2>"$T_TMP/serve.err"
SERVE=$T_LAST_PID
if ! t_wait_http "$PUB/healthz" 30; then
	t_fail "serve starts" "$(tail -n 5 "$T_TMP/serve.err" | tr '\n' ' ')"
	t_done server
	exit 1
fi
t_ok "serve starts"
grep -q "curl http://127.0.0.1:$P1/healthz" "$T_TMP/serve.out" &&
	t_ok "banner shows a command to try" ||
	t_fail "banner shows a command to try" "$(head -n 5 "$T_TMP/serve.out")"

# --- public listener ---------------------------------------------------
s=$(t_req healthz "$PUB/healthz" -D "$T_TMP/healthz.hdr")
t_expect healthz 200 "$s"
[ "$(t_jget "$T_TMP/healthz.body" 'j["status"]+j["store"]+j["token"]')" = okokok ] &&
	t_ok "healthz body" || t_fail "healthz body" "$(cat "$T_TMP/healthz.body")"
grep -Eqi '^x-request-id: [0-9a-f]{16}' "$T_TMP/healthz.hdr" &&
	t_ok "X-Request-Id header" || t_fail "X-Request-Id header" "$(cat "$T_TMP/healthz.hdr")"

s=$(t_req nope "$PUB/nope")
t_expect nope 404 "$s"
[ "$(t_jget "$T_TMP/nope.body" 'j["error"]["code"]')" = not_found ] &&
	t_ok "404 error object" || t_fail "404 error object" "$(cat "$T_TMP/nope.body")"
s=$(t_req post_healthz "$PUB/healthz" -X POST -d x)
t_expect post_healthz 405 "$s"

s=$(t_req rootcrt "$PUB/certs/root.crt")
t_expect rootcrt 200 "$s"
if openssl x509 -inform DER -in "$T_TMP/rootcrt.body" -noout 2>/dev/null &&
	[ "$(openssl x509 -inform DER -in "$T_TMP/rootcrt.body" -outform PEM)" = \
	  "$(openssl x509 -in "$D/certs/root.pem" -outform PEM)" ]; then
	t_ok "certs/root.crt is the root certificate in DER"
else
	t_fail "certs/root.crt is the root certificate in DER" "differs"
fi
s=$(t_req badcrt "$PUB/certs/audit.crt")
t_expect badcrt 404 "$s"

# Body cap: declared too large, and chunked (no Content-Length) too large.
head -c 5000 /dev/zero | tr '\0' z >"$T_TMP/big"
head -c 1000 /dev/zero | tr '\0' z >"$T_TMP/small"
s=$(t_req big "$PUB/healthz" -X POST --data-binary "@$T_TMP/big")
t_expect big 413 "$s"
[ "$(t_jget "$T_TMP/big.body" 'j["error"]["code"]')" = too_large ] &&
	t_ok "413 error object" || t_fail "413 error object" "$(cat "$T_TMP/big.body")"
s=$(t_req bigchunked "$PUB/healthz" -X POST -H 'Transfer-Encoding: chunked' \
	--data-binary "@$T_TMP/big")
t_expect bigchunked 413 "$s"
head -c 50000 /dev/zero | tr '\0' a >"$T_TMP/huge"
s=$(t_req hugechunked "$PUB/healthz" -X POST -H 'Transfer-Encoding: chunked' \
	--data-binary "@$T_TMP/huge")
case $s in
413|000) t_ok "chunked body far over the cap refused ($s)" ;;
*) t_fail "chunked body far over the cap refused" "status $s" ;;
esac
s=$(t_req small "$PUB/healthz" -X POST --data-binary "@$T_TMP/small")
t_expect small 405 "$s" # under the cap: reaches routing

# --- admin listener: who is refused -----------------------------------
s=$(t_req nocert "$ADM/healthz" --cacert "$D/certs/root.pem")
case $s in
401|000) t_ok "admin without client certificate refused ($s)" ;;
*) t_fail "admin without client certificate refused" "status $s" ;;
esac

# A foreign CA issuing a certificate with a real admin serial and a role.
SERIAL=$(openssl x509 -in "$D/admin/sysadmin.pem" -noout -serial | cut -d= -f2)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T_TMP/evilca.key" -out "$T_TMP/evilca.pem" -days 2 \
	-subj "/CN=govpki root" >/dev/null 2>&1
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T_TMP/evil.key" -out "$T_TMP/evil.csr" \
	-subj "/CN=govpki sysadmin/title=sysadmin" >/dev/null 2>&1
printf 'extendedKeyUsage=clientAuth\n' >"$T_TMP/evil.ext"
openssl x509 -req -in "$T_TMP/evil.csr" -CA "$T_TMP/evilca.pem" \
	-CAkey "$T_TMP/evilca.key" -set_serial "0x$SERIAL" -days 1 \
	-extfile "$T_TMP/evil.ext" -out "$T_TMP/evil.pem" >/dev/null 2>&1
s=$(t_req evil "$ADM/api/v1/config" --cacert "$D/certs/root.pem" \
	--cert "$T_TMP/evil.pem" --key "$T_TMP/evil.key")
case $s in
401|000) t_ok "foreign CA certificate refused ($s)" ;;
*) t_fail "foreign CA certificate refused" "status $s: $(cat "$T_TMP/evil.body")" ;;
esac
# A self-signed certificate with the role.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T_TMP/self.key" -out "$T_TMP/self.pem" -days 2 \
	-subj "/CN=me/title=auditor" >/dev/null 2>&1
s=$(t_req self "$ADM/api/v1/audit" --cacert "$D/certs/root.pem" \
	--cert "$T_TMP/self.pem" --key "$T_TMP/self.key")
case $s in
401|000) t_ok "self-signed certificate refused ($s)" ;;
*) t_fail "self-signed certificate refused" "status $s" ;;
esac

# --- admin listener: roles --------------------------------------------
for role in sysadmin officer auditor; do
	s=$(admin $role "health_$role" /healthz)
	t_expect "health_$role" 200 "$s"
done
s=$(admin sysadmin cfg_sysadmin /api/v1/config)
t_expect cfg_sysadmin 200 "$s"
[ -n "$(t_jget "$T_TMP/cfg_sysadmin.body" 'j["listen"] if "listen" in j else j')" ] &&
	! grep -qi '"pin"\s*:' "$T_TMP/cfg_sysadmin.body" &&
	t_ok "config is JSON without PINs" ||
	t_fail "config is JSON without PINs" "$(head -c 300 "$T_TMP/cfg_sysadmin.body")"

DENIED=0
s=$(admin auditor cfg_auditor /api/v1/config); t_expect cfg_auditor 403 "$s"
[ "$s" = 403 ] && DENIED=$((DENIED + 1))
[ "$(t_jget "$T_TMP/cfg_auditor.body" 'j["error"]["code"]')" = denied ] &&
	t_ok "403 error object" || t_fail "403 error object" "$(cat "$T_TMP/cfg_auditor.body")"
s=$(admin officer cfg_officer /api/v1/config); t_expect cfg_officer 403 "$s"
[ "$s" = 403 ] && DENIED=$((DENIED + 1))
s=$(admin sysadmin audit_sysadmin /api/v1/audit); t_expect audit_sysadmin 403 "$s"
[ "$s" = 403 ] && DENIED=$((DENIED + 1))
s=$(admin officer audit_officer /api/v1/audit); t_expect audit_officer 403 "$s"
[ "$s" = 403 ] && DENIED=$((DENIED + 1))
s=$(admin officer verify_officer /api/v1/audit/verify); t_expect verify_officer 403 "$s"
[ "$s" = 403 ] && DENIED=$((DENIED + 1))
s=$(admin auditor admin404 /api/v1/nope); t_expect admin404 404 "$s"
s=$(admin auditor admin405 /api/v1/audit -X DELETE); t_expect admin405 405 "$s"

s=$(admin auditor audit_auditor "/api/v1/audit?limit=1000")
t_expect audit_auditor 200 "$s"
N=$(t_jget "$T_TMP/audit_auditor.body" 'len(j["records"])')
[ "${N:-0}" -gt 0 ] && t_ok "auditor reads records ($N)" ||
	t_fail "auditor reads records" "$(head -c 300 "$T_TMP/audit_auditor.body")"
NDEN=$(t_jget "$T_TMP/audit_auditor.body" \
	'sum(1 for r in j["records"] if r.get("op")=="http.denied" and r.get("outcome")=="denied")')
[ "$NDEN" = "$DENIED" ] && [ "$DENIED" = 5 ] &&
	t_ok "every 403 has an http.denied record ($DENIED)" ||
	t_fail "every 403 has an http.denied record" "$NDEN records for $DENIED denials"
t_jget "$T_TMP/audit_auditor.body" \
	'[r for r in j["records"] if r.get("op")=="http.denied"][0]' >"$T_TMP/den1"
grep -q "title=sysadmin\|title=officer\|title=auditor" "$T_TMP/den1" &&
	grep -q "serial=" "$T_TMP/den1" && grep -q "GET /api/v1/" "$T_TMP/den1" &&
	grep -q "127.0.0.1" "$T_TMP/den1" &&
	t_ok "denial record names actor, object and client" ||
	t_fail "denial record names actor, object and client" "$(cat "$T_TMP/den1")"
NUN=$(t_jget "$T_TMP/audit_auditor.body" \
	'sum(1 for r in j["records"] if r.get("op")=="http.unauthenticated")')
[ "${NUN:-0}" -ge 1 ] && t_ok "401s are audited ($NUN)" ||
	t_fail "401s are audited" "none"
NCP=$(t_jget "$T_TMP/audit_auditor.body" \
	'sum(1 for r in j["records"] if r.get("op")=="audit.checkpoint" and r["seq"] > [x["seq"] for x in j["records"] if x.get("op")=="server.start"][-1])')
[ "${NCP:-0}" -ge 1 ] && t_ok "periodic checkpoint while serving" ||
	t_fail "periodic checkpoint while serving" "none after server.start"

NEXT=$(t_jget "$T_TMP/audit_auditor.body" 'j["next_after"]')
s=$(admin auditor audit_page "/api/v1/audit?after=$NEXT&limit=5")
t_expect audit_page 200 "$s"
[ "$(t_jget "$T_TMP/audit_page.body" 'j["records"][0]["op"]')" = audit.list ] &&
	t_ok "reading the audit is audited (audit.list)" ||
	t_fail "reading the audit is audited (audit.list)" "$(head -c 300 "$T_TMP/audit_page.body")"
s=$(admin auditor audit_badlimit "/api/v1/audit?limit=1001"); t_expect audit_badlimit 400 "$s"
s=$(admin auditor audit_badafter "/api/v1/audit?after=x"); t_expect audit_badafter 400 "$s"

s=$(admin auditor verify_auditor /api/v1/audit/verify)
t_expect verify_auditor 200 "$s"
[ "$(t_jget "$T_TMP/verify_auditor.body" 'j["verified"]')" = True ] &&
	t_ok "audit verifies through the API" ||
	t_fail "audit verifies through the API" "$(cat "$T_TMP/verify_auditor.body")"

# A certificate put on hold is refused on the next request.
OSER=$(openssl x509 -in "$D/admin/officer.pem" -noout -serial | cut -d= -f2 |
	tr 'A-F' 'a-f' | sed 's/^0*//')
if "$GOVPKI" ca hold "$OSER" --dir "$D" >"$T_TMP/sql.err" 2>&1 &&
	[ "$(t_sql "$D" "SELECT status FROM certificates WHERE serial='$OSER'")" = hold ]; then
	s=$(admin officer held /healthz)
	t_expect held 401 "$s"
else
	t_fail "held" "cannot set the officer certificate on hold: $(cat "$T_TMP/sql.err")"
fi

s=$(t_req metrics "$PUB/metrics")
t_expect metrics 200 "$s"
grep -q '^govpki_requests_total{listener="admin",code="403"} 5$' "$T_TMP/metrics.body" &&
	grep -q '^govpki_request_duration_seconds_bucket{listener="public",le="+Inf"}' "$T_TMP/metrics.body" &&
	grep -q '^govpki_errors_total{kind="denied"} 5$' "$T_TMP/metrics.body" &&
	grep -q '^govpki_audit_records [1-9]' "$T_TMP/metrics.body" &&
	t_ok "metrics count requests, denials and audit records" ||
	t_fail "metrics count requests, denials and audit records" "$(grep -v '^#' "$T_TMP/metrics.body" | head -n 20 | tr '\n' ' ')"

# The request log: one JSON line per request, no bodies.
python3 - "$T_TMP/serve.err" <<'EOF' >"$T_TMP/log.check" 2>&1
import json, sys
n = 0
for line in open(sys.argv[1]):
    try:
        j = json.loads(line)
    except ValueError:
        continue
    if "request_id" in j:
        for k in ("time", "listener", "client", "method", "path", "status", "us", "actor"):
            assert k in j, (k, j)
        # the bodies are runs of "z", a letter no hex id or time holds
        assert "zzzzzzzz" not in line, "body in log"
        n += 1
assert n >= 20, n
print(n)
EOF
[ $? -eq 0 ] && t_ok "one JSON log line per request ($(cat "$T_TMP/log.check"))" ||
	t_fail "one JSON log line per request" "$(tail -n 4 "$T_TMP/log.check" | tr "\n" " ")"

# --- SIGTERM: drain, exit 0, final records ----------------------------
kill -TERM "$SERVE"
t_wait_exit "$SERVE" 150; rc=$?
[ "$rc" = 0 ] && t_ok "SIGTERM: exit 0 within 15 s" ||
	t_fail "SIGTERM: exit 0 within 15 s" "exit $rc: $(tail -n 3 "$T_TMP/serve.err" | tr '\n' ' ')"

t_check "audit verify after stop" "$GOVPKI" audit verify --dir "$D"
"$GOVPKI" audit list --dir "$D" --json >"$T_TMP/list.out" 2>"$T_TMP/list.err"
python3 - "$T_TMP/list.out" <<'EOF' >"$T_TMP/last.ops" 2>&1
import json, sys
ops = []
text = open(sys.argv[1]).read()
try:
    doc = json.loads(text)
    rows = doc["records"] if isinstance(doc, dict) else doc
except ValueError:
    rows = [json.loads(l) for l in text.splitlines() if l.strip().startswith("{")]
ops = [r.get("op") for r in rows]
# After the server's last record only this CLI's own reads may follow.
i = max(k for k, o in enumerate(ops) if o == "server.stop") if "server.stop" in ops else -1
tail = ops[i:] if i >= 0 else ops[-2:]
while len(tail) > 2 and tail[-1] in ("audit.list", "audit.verify"):
    tail.pop()
print(" ".join(tail))
print(sum(1 for r in rows if r.get("op") == "http.denied"))
EOF
[ "$(head -n 1 "$T_TMP/last.ops")" = "server.stop audit.checkpoint" ] &&
	t_ok "last server records: server.stop, audit.checkpoint" ||
	t_fail "last server records: server.stop, audit.checkpoint" "$(head -c 300 "$T_TMP/last.ops") $(head -c 200 "$T_TMP/list.err")"
[ "$(sed -n 2p "$T_TMP/last.ops")" = "$DENIED" ] &&
	t_ok "audit list shows every http.denied" ||
	t_fail "audit list shows every http.denied" "$(sed -n 2p "$T_TMP/last.ops") for $DENIED"

t_done server
