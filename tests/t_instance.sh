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

# (govpki.db: SQLite's file; on PostgreSQL the store is elsewhere.)
DB=govpki.db
t_is_pg "$I" && DB=""
for f in govpki.json $DB softhsm2.conf secrets/user.pin secrets/so.pin \
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
n=$(t_sql "$I" 'SELECT count(*) FROM audit')
if [ "$n" -ge 10 ]; then t_ok "init is audited ($n records)"; else t_fail "init is audited" "$n records"; fi
if t_sql "$I" "SELECT op FROM audit" | grep -q '^key.generate$'; then t_ok "key generation is audited"; else t_fail "key generation is audited" "no key.generate"; fi

# Tampering, each on a fresh copy (of the SQLite file or the PostgreSQL
# database, t_copy): the verifier names the record.
tamper() { # NAME EXPECT-REGEX SQL
	local name=$1 pat=$2 sql=$3 d="$T_TMP/tamper.$RANDOM"
	t_copy "$I" "$d" || { t_fail "$name" "copy failed"; return; }
	# The schema refuses UPDATE and DELETE on the log; whoever can write
	# the database can drop those triggers, so the chain itself must
	# catch it.
	t_unguard "$d" audit checkpoints && t_sql "$d" "$sql" || { t_fail "$name" "the edit failed"; return; }
	t_refuse "$name" "$pat" "$GOVPKI" audit verify --dir "$d"
	rm -rf "$d"
}
# Random bytes as long as a signature, in each backend's words.
RANDSIG="randomblob(length(sig))"
t_is_pg "$I" && RANDSIG="substring(decode(repeat(md5(random()::text), 8), 'hex') from 1 for length(sig))"
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
	"UPDATE checkpoints SET sig=$RANDSIG"
t_refuse "the schema itself refuses edits of the log" "refuse|abort|constraint|append-only" \
	t_sql "$I" "UPDATE audit SET actor='x' WHERE seq=2"
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

# --- issue 9: the instance's own URLs, profiles, clock and TLS -----------
# The plain init keeps the TSA strict (ETSI EN 319 421) whatever the
# clock says; only --dev-clock relaxes it.
cc=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tsa"]["clock_check"])' "$I/govpki.json")
[ "$cc" = strict ] && t_ok "init writes tsa.clock_check strict" || t_fail "init writes tsa.clock_check strict" "$cc"
if ! grep -q '"warn"' "$T_TMP/init.out"; then t_ok "init says nothing of warn"; else t_fail "init says nothing of warn" "$(cat "$T_TMP/init.out")"; fi
"$GOVPKI" init --dir "$T_TMP/dev" --dev-clock >"$T_TMP/dev.out" 2>&1
cc=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tsa"]["clock_check"])' "$T_TMP/dev/govpki.json" 2>&1)
[ "$cc" = warn ] && grep -q "DEVELOPMENT ONLY" "$T_TMP/dev.out" &&
	t_ok "init --dev-clock writes warn and says development only" ||
	t_fail "init --dev-clock writes warn and says development only" "$cc $(cat "$T_TMP/dev.out")"

# The admin TLS certificate obeys its profile: 398 days at most (CA/B BR
# 6.3.2), the tls-server policy.
tls_days=$(python3 - "$I/tls/server.pem" <<'PY'
import subprocess, sys, datetime
out = subprocess.run(["openssl", "x509", "-in", sys.argv[1], "-noout", "-startdate", "-enddate"],
                     capture_output=True, text=True).stdout.split("\n")
f = lambda s: datetime.datetime.strptime(s.split("=", 1)[1].replace("  ", " "), "%b %d %H:%M:%S %Y GMT")
print((f(out[1]) - f(out[0])).total_seconds() / 86400)
PY
)
if python3 -c "import sys; sys.exit(0 if 0 < float('$tls_days') <= 398 else 1)"; then
	t_ok "admin TLS certificate valid $tls_days days (at most 398)"
else t_fail "admin TLS certificate at most 398 days" "$tls_days days"; fi
tls_pol=$(python3 -c 'import json; print(json.load(open("'"$I"'/policies/tls-server.json"))["policies"][0])')
openssl x509 -in "$I/tls/server.pem" -noout -ext certificatePolicies | grep -q "$tls_pol" &&
	t_ok "admin TLS certificate carries the tls-server policy" ||
	t_fail "admin TLS certificate carries the tls-server policy" "$(openssl x509 -in "$I/tls/server.pem" -noout -ext certificatePolicies 2>&1)"

# --public-url: every URL in every certificate init makes is the
# deployment's, and nothing says 127.0.0.1.
U=https://pki.example.gov.cn
if "$GOVPKI" init --dir "$T_TMP/pu" --public-url "$U/" --hostname pki.example.gov.cn \
	--hostname 10.1.2.3 >"$T_TMP/pu.out" 2>&1; then
	t_ok "init --public-url"
else t_fail "init --public-url" "$(tail -n 3 "$T_TMP/pu.out" | tr '\n' ' ')"; fi
bad_urls=""
n_certs=0
for f in "$T_TMP"/pu/certs/*.pem "$T_TMP"/pu/tls/server.pem "$T_TMP"/pu/admin/*.pem; do
	case $f in */chain.pem|*/root.pem) continue ;; esac
	n_certs=$((n_certs + 1))
	uris=$(openssl x509 -in "$f" -noout -ext crlDistributionPoints,authorityInfoAccess 2>/dev/null | grep -o 'URI:[^ ]*')
	[ -n "$uris" ] || bad_urls="$bad_urls $(basename "$f"):none"
	for u in $uris; do
		case $u in URI:$U/crl/*.crl|URI:$U/ocsp|URI:$U/certs/*.crt) ;; *) bad_urls="$bad_urls $(basename "$f"):$u" ;; esac
	done
done
if [ -z "$bad_urls" ] && [ "$n_certs" -ge 9 ]; then
	t_ok "every URL of the $n_certs init certificates is under $U"
else t_fail "every URL of the init certificates is under $U" "$n_certs certs;$bad_urls"; fi
if grep -q '"public_url": "https://pki.example.gov.cn"' "$T_TMP/pu/govpki.json"; then
	t_ok "public_url written without the trailing /"
else t_fail "public_url written" "$(grep public_url "$T_TMP/pu/govpki.json")"; fi
openssl x509 -in "$T_TMP/pu/tls/server.pem" -noout -ext subjectAltName | grep -q "DNS:pki.example.gov.cn, IP Address:10.1.2.3" &&
	t_ok "--hostname names in the admin TLS certificate" ||
	t_fail "--hostname names in the admin TLS certificate" "$(openssl x509 -in "$T_TMP/pu/tls/server.pem" -noout -ext subjectAltName)"

# A bad --public-url or --hostname is refused, naming it, and creates
# nothing.
for bad in "ftp://pki.example.gov.cn" "pki.example.gov.cn" "https://" \
	"https://user:pw@pki.example.gov.cn" "https://pki.example.gov.cn/?a=b" \
	"https://pki.example.gov.cn/#x" "https://pki.example.gov.cn:99999" \
	"https://pki.example.gov.cn/a b" "$(printf 'https://pki.example.gov.cn/\001')" \
	"https://pki.example.gov.cn/x,URI:http://evil" "https://-bad-.example"; do
	t_refuse "init refuses --public-url '$(printf '%s' "$bad" | tr -d '\001')'" "--public-url" \
		"$GOVPKI" init --dir "$T_TMP/badurl" --public-url "$bad"
done
t_refuse "init refuses --hostname 'a,DNS:evil.example'" "--hostname" \
	"$GOVPKI" init --dir "$T_TMP/badurl" --hostname "a,DNS:evil.example"
[ ! -e "$T_TMP/badurl" ] && ! ls -a "$T_TMP" | grep -q '\.badurl\.init-' &&
	t_ok "refused names create nothing" || t_fail "refused names create nothing" "$(ls -a "$T_TMP")"
# The same rule guards govpki.json.
cp -a "$T_TMP/pu" "$T_TMP/pu2"
python3 - "$T_TMP/pu2/govpki.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p)); c["public_url"] = "https://pki.example.gov.cn/x?y"; json.dump(c, open(p, "w"))
PY
t_refuse "govpki.json: a bad public_url names the field" "govpki.json: field public_url" \
	"$GOVPKI" ca list --dir "$T_TMP/pu2"

# The instance carries its own profiles (DIR/policies, named relative to
# it): copied from --profiles, it still works once that copy is gone and
# the instance directory has moved.
mkdir -p "$T_TMP/tmpl" && cp -r "$(dirname "$0")/../policies/." "$T_TMP/tmpl/"
"$GOVPKI" init --dir "$T_TMP/mv1" --profiles "$T_TMP/tmpl" >"$T_TMP/mv.out" 2>&1
pd=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["profiles_dir"])' "$T_TMP/mv1/govpki.json" 2>&1)
[ "$pd" = policies ] && [ -f "$T_TMP/mv1/policies/tls-server.json" ] && [ -f "$T_TMP/mv1/policies/approvals/approval-5.json" ] &&
	t_ok "profiles_dir is \"policies\", inside the instance" || t_fail "profiles_dir is relative" "$pd"
rm -rf "$T_TMP/tmpl"
mv "$T_TMP/mv1" "$T_TMP/mv2"
t_check "a moved instance still loads its profiles" "$GOVPKI" ca list --dir "$T_TMP/mv2"
t_refuse "init with a missing --profiles names it" "--profiles" \
	"$GOVPKI" init --dir "$T_TMP/noprof" --profiles "$T_TMP/nowhere"

t_done instance
