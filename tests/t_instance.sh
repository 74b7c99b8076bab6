#!/usr/bin/env bash
# t_instance.sh: `govpki init` and `govpki audit verify` from the outside:
# the instance layout and its certificates checked by the openssl CLI and
# GnuTLS certtool, refusals that must leave everything as it was, and the
# audit log's tamper evidence against direct edits of the database.
. "$(dirname "$0")/lib.sh"

I="$T_TMP/inst"
if ! "$GOVPKI" init --dir "$I" >"$T_TMP/init.out" 2>&1; then
	t_fail "init" "$(cat "$T_TMP/init.out")"
	t_done instance
	exit 1
fi
t_ok "init creates an instance"

for f in govpki.json govpki.db softhsm2.conf secrets/user.pin secrets/so.pin \
	certs/root.pem certs/ca.pem certs/tsa.pem certs/ocsp.pem certs/audit.pem \
	tls/server.pem tls/server.key admin/sysadmin.pem admin/sysadmin.key \
	admin/officer.pem admin/officer.key admin/auditor.pem admin/auditor.key; do
	[ -s "$I/$f" ] || t_fail "layout" "missing $f"
done
t_ok "layout complete"

modes_ok=1
for f in secrets/user.pin secrets/so.pin tls/server.key admin/officer.key; do
	[ "$(stat -c %a "$I/$f")" = 600 ] || modes_ok=0
done
if [ $modes_ok = 1 ]; then t_ok "secrets are mode 0600"; else t_fail "secrets are mode 0600" "$(stat -c '%a %n' "$I"/secrets/* "$I"/tls/server.key)"; fi

C="$I/certs"
t_check "openssl verifies the service certificates" \
	openssl verify -CAfile "$C/root.pem" -untrusted "$C/ca.pem" "$C/ca.pem" "$C/tsa.pem" "$C/ocsp.pem" "$C/audit.pem"
t_check "certtool verifies the TSA chain" \
	sh -c "cat '$C/tsa.pem' '$C/ca.pem' | certtool --verify --load-ca-certificate '$C/root.pem'"
t_check "admin certificates are TLS clients" \
	openssl verify -purpose sslclient -CAfile "$C/root.pem" -untrusted "$C/ca.pem" "$I/admin/officer.pem" "$I/admin/auditor.pem" "$I/admin/sysadmin.pem"
t_check "TLS certificate is a server for localhost" \
	openssl verify -purpose sslserver -verify_hostname localhost -CAfile "$C/root.pem" -untrusted "$C/ca.pem" "$I/tls/server.pem"

eku=$(openssl x509 -in "$C/tsa.pem" -noout -ext extendedKeyUsage 2>&1)
if echo "$eku" | grep -q 'critical' && [ "$(echo "$eku" | tail -n +2 | tr -d ' ')" = "TimeStamping" ]; then
	t_ok "TSA has one critical EKU, timeStamping"
else t_fail "TSA has one critical EKU, timeStamping" "$eku"; fi

ocsp=$(openssl x509 -in "$C/ocsp.pem" -noout -text)
if echo "$ocsp" | grep -q 'OCSP Signing' && echo "$ocsp" | grep -q 'OCSP No Check'; then
	t_ok "OCSP responder has OCSPSigning and nocheck"
else t_fail "OCSP responder has OCSPSigning and nocheck" "missing extension"; fi

serial=$(openssl x509 -in "$C/tsa.pem" -noout -serial | cut -d= -f2)
if [ ${#serial} -eq 32 ]; then t_ok "serials are 16 bytes"; else t_fail "serials are 16 bytes" "$serial"; fi

if openssl x509 -in "$I/admin/officer.pem" -noout -subject -nameopt RFC2253 | grep -q 'title=officer'; then
	t_ok "officer certificate carries its role"
else t_fail "officer certificate carries its role" "$(openssl x509 -in "$I/admin/officer.pem" -noout -subject)"; fi

if openssl asn1parse -in "$C/root.pem" | grep -q 'UTF8STRING'; then
	t_ok "names are UTF8String"
else t_fail "names are UTF8String" "no UTF8STRING in root"; fi

if grep -rq "$(cat "$I/secrets/user.pin")" "$T_TMP/init.out" "$I/govpki.json"; then
	t_fail "PIN appears nowhere but secrets/" "found"
else t_ok "PIN appears nowhere but secrets/"; fi

# A second init on the same directory: refused, nothing touched.
sum_before=$(cd "$I" && find . -type f -exec sha256sum {} + | sort | sha256sum)
t_refuse "second init is refused" "already a govpki instance" "$GOVPKI" init --dir "$I"
sum_after=$(cd "$I" && find . -type f -exec sha256sum {} + | sort | sha256sum)
if [ "$sum_before" = "$sum_after" ]; then t_ok "second init changed nothing"; else t_fail "second init changed nothing" "files changed"; fi

mkdir -p "$T_TMP/full" && echo x >"$T_TMP/full/keep"
t_refuse "init refuses a non-empty directory" "not empty" "$GOVPKI" init --dir "$T_TMP/full"
[ "$(cat "$T_TMP/full/keep")" = x ] && t_ok "non-empty directory untouched" || t_fail "non-empty directory untouched" "changed"
echo x >"$T_TMP/afile"
t_refuse "init refuses an unwritable location" "cannot create|Not a directory|not a directory" "$GOVPKI" init --dir "$T_TMP/afile/inst"
t_refuse "init with a bad algorithm is a usage error" "algo" "$GOVPKI" init --dir "$T_TMP/x" --algo dsa-1024
if ls -a "$T_TMP" | grep -q '\.init-'; then t_fail "failed init leaves nothing" "$(ls -a "$T_TMP")"; else t_ok "failed init leaves nothing"; fi

# Bad configuration: the error names the file and the field.
cp -a "$I" "$T_TMP/badcfg"
python3 - "$T_TMP/badcfg/govpki.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p)); c["limits"]["threads"] = "many"; json.dump(c, open(p, "w"))
PY
t_refuse "bad configuration names the field" "govpki.json: field limits.threads" "$GOVPKI" audit verify --dir "$T_TMP/badcfg"
t_refuse "missing instance says how to create one" "govpki init" "$GOVPKI" audit verify --dir "$T_TMP/nothing"

# The audit log of a fresh instance verifies.
t_check "audit verify passes on a fresh instance" "$GOVPKI" audit verify --dir "$I"
n=$(sqlite3 "$I/govpki.db" 'SELECT count(*) FROM audit')
if [ "$n" -ge 10 ]; then t_ok "init is audited ($n records)"; else t_fail "init is audited" "$n records"; fi
if sqlite3 "$I/govpki.db" "SELECT op FROM audit" | grep -q '^key.generate$'; then t_ok "key generation is audited"; else t_fail "key generation is audited" "no key.generate"; fi

# Tampering, each on a fresh copy: the verifier names the record.
tamper() { # NAME EXPECT-REGEX SQL
	local name=$1 pat=$2 sql=$3 d="$T_TMP/tamper.$RANDOM"
	cp -a "$I" "$d"
	# The schema refuses UPDATE and DELETE on the log; whoever holds the
	# file can drop those triggers, so the chain itself must catch it.
	sqlite3 "$d/govpki.db" "DROP TRIGGER IF EXISTS audit_no_update;
		DROP TRIGGER IF EXISTS audit_no_delete;
		DROP TRIGGER IF EXISTS checkpoints_no_update;
		DROP TRIGGER IF EXISTS checkpoints_no_delete; $sql" || { t_fail "$name" "sqlite3 failed"; return; }
	t_refuse "$name" "$pat" "$GOVPKI" audit verify --dir "$d"
	rm -rf "$d"
}
tamper "a changed record is named" "record 3\b" \
	"UPDATE audit SET actor='local:mallory' WHERE seq=3"
tamper "a deleted record is named" "record 4\b" \
	"DELETE FROM audit WHERE seq=4"
tamper "an inserted record is named" "record 5\b" \
	"UPDATE audit SET seq=seq+100000 WHERE seq>=5;
	 UPDATE audit SET seq=seq-99999 WHERE seq>=100005;
	 INSERT INTO audit(seq,time_ms,actor,role,op,object,outcome,request_id,client,details,prev_hash,hash)
	   SELECT 5,time_ms,'local:mallory',role,op,object,outcome,request_id,client,details,hash,hash FROM audit WHERE seq=4"
tamper "reordered records are named" "record 3\b" \
	"UPDATE audit SET seq=-1 WHERE seq=3; UPDATE audit SET seq=3 WHERE seq=4; UPDATE audit SET seq=4 WHERE seq=-1"
tamper "a deleted checkpoint is detected" "checkpoint" \
	"DELETE FROM checkpoints"
tamper "a forged checkpoint signature is detected" "checkpoint" \
	"UPDATE checkpoints SET sig=randomblob(length(sig))"
t_refuse "the schema itself refuses edits of the log" "refuse|abort|constraint|append-only" \
	sqlite3 "$I/govpki.db" "UPDATE audit SET actor='x' WHERE seq=2"
t_check "the original still verifies" "$GOVPKI" audit verify --dir "$I"

# Commands that log in to the token, two at a time on one instance: the
# embedded SoftHSM token must never look absent because the other process
# is writing its file (without the retry, about one pair in ten failed).
bad=0
for i in $(seq 1 12); do
	"$GOVPKI" ca crl --dir "$I" >"$T_TMP/p1.out" 2>&1 &
	a=$!
	"$GOVPKI" ca crl --dir "$I" --ca root >"$T_TMP/p2.out" 2>&1 &
	b=$!
	wait "$a" || { bad=$((bad + 1)); cat "$T_TMP/p1.out"; }
	wait "$b" || { bad=$((bad + 1)); cat "$T_TMP/p2.out"; }
done
[ "$bad" = 0 ] && t_ok "concurrent logins to one token all succeed (24)" ||
	t_fail "concurrent logins to one token all succeed" "$bad of 24 failed"

t_done instance
