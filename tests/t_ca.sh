#!/usr/bin/env bash
# t_ca.sh: issuance over the admin API end to end. A fresh instance and
# server, then: an enterprise and a citizen certificate issued from CSRs,
# each verified by `openssl verify` and GnuTLS `certtool --verify`; refusals
# that name the field (bad USCC, bad ID number, wrong key type, a CSR whose
# signature does not verify, a subject field outside the profile); each
# role refused outside its powers (403, audited); revoke, hold, release and
# "already revoked"; search by USCC and ID number; dual control needing two
# different identities (the API officer requests, the local operator
# approves on the CLI, and the new second officer and the first approve each
# other's requests over the API); a bad profile stops start-up naming file
# and field; the audit log verifies at the end.
. "$(dirname "$0")/lib.sh"

D=$T_TMP/inst
P1=$(t_free_port)
P2=$(t_free_port)

# verify NAME PEM: openssl and certtool both accept the chain
verify() {
	if [ ! -s "$2" ]; then t_fail "$1: verify" "no certificate"; return; fi
	if openssl verify -CAfile "$D/certs/root.pem" -untrusted "$D/certs/ca.pem" \
		"$2" >"$T_TMP/ov.out" 2>&1; then t_ok "$1: openssl verify"; else
		t_fail "$1: openssl verify" "$(cat "$T_TMP/ov.out")"; fi
	cat "$2" "$D/certs/ca.pem" >"$T_TMP/chain.pem"
	if certtool --verify --load-ca-certificate "$D/certs/root.pem" \
		--infile "$T_TMP/chain.pem" >"$T_TMP/ct.out" 2>&1 &&
		grep -q "Chain verification output: Verified" "$T_TMP/ct.out"; then
		t_ok "$1: certtool --verify"; else
		t_fail "$1: certtool --verify" "$(tail -n 3 "$T_TMP/ct.out" | tr '\n' ' ')"; fi
}

if [ ! -x "$GOVPKI" ]; then t_fail binary "$GOVPKI not built"; t_done ca; exit 1; fi
if ! "$GOVPKI" init --dir "$D" --dev-clock >"$T_TMP/init.out" 2>&1; then
	t_fail init "$(tail -n 3 "$T_TMP/init.out" | tr '\n' ' ')"; t_done ca; exit 1
fi
OFF=$D/admin/officer
AUD=$D/admin/auditor
SYS=$D/admin/sysadmin

# --- a bad profile stops start-up, naming the file, field and reason -----
mkdir -p "$T_TMP/badpol"
cp "$(dirname "$0")/../policies/"*.json "$T_TMP/badpol/"
python3 - "$T_TMP/badpol/citizen.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); p["key_usage"] = ["digitalSignature", "flying"]
json.dump(p, open(sys.argv[1], "w"))
PY
cp "$D/govpki.json" "$T_TMP/govpki.json.good"
t_setcfg "$D/govpki.json" "profiles_dir=\"$T_TMP/badpol\""
t_refuse "bad profile stops serve (file and field named)" 'citizen.json: key_usage: unknown key usage' \
	timeout 20 "$GOVPKI" serve --dir "$D" --http "127.0.0.1:$P1" --https "127.0.0.1:$P2" --quiet
t_refuse "bad profile stops the CLI too" 'citizen.json: key_usage' "$GOVPKI" ca list --dir "$D"
# The OCSP responder answers for the issuing CA only: a profile whose
# certificates the root signs may not name it.
cp "$(dirname "$0")/../policies/citizen.json" "$T_TMP/badpol/"
python3 - "$T_TMP/badpol/sub-ca.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); p["aia_ocsp"] = True
json.dump(p, open(sys.argv[1], "w"))
PY
t_refuse "a root-issued profile naming the OCSP responder is refused" \
	'sub-ca.json: aia_ocsp: must be false with issuer root' "$GOVPKI" ca list --dir "$D"
cp "$T_TMP/govpki.json.good" "$D/govpki.json"

t_serve_up ca "$D" --quiet
t_ok "serve starts with the shipped profiles"

# --- enterprise ----------------------------------------------------------
t_csr ent ec -pkeyopt ec_paramgen_curve:P-256
t_issue_json "$T_TMP/ent.json" enterprise "$T_TMP/ent.csr" \
	'{"organization":"福州市某某科技有限公司","uscc":"91350100M000100Y43"}'
s=$(t_admin "$OFF" ent /api/v1/certificates -X POST --data-binary "@$T_TMP/ent.json")
t_expect ent 201 "$s"
t_jget "$T_TMP/ent.body" 'j["certificate"]' >"$T_TMP/ent.pem"
ENT=$(t_jget "$T_TMP/ent.body" 'j["serial"]')
verify "enterprise" "$T_TMP/ent.pem"
openssl x509 -in "$T_TMP/ent.pem" -noout -text >"$T_TMP/ent.txt" 2>&1
grep -q "organizationIdentifier = NTRCN-91350100M000100Y43" "$T_TMP/ent.txt" &&
	t_ok "enterprise: organizationIdentifier NTRCN-<USCC>" ||
	t_fail "enterprise: organizationIdentifier NTRCN-<USCC>" "$(grep Subject: "$T_TMP/ent.txt")"
! grep -q "ignored by the CA" "$T_TMP/ent.txt" &&
	t_ok "enterprise: subject built from the request fields, not the CSR" ||
	t_fail "enterprise: subject built from the request fields, not the CSR" "CSR subject copied"
grep -q "URI:http://.*/crl/ca.crl" "$T_TMP/ent.txt" && grep -q "OCSP - URI:http://.*/ocsp" "$T_TMP/ent.txt" &&
	grep -q "CA Issuers - URI:http://.*/certs/ca.crt" "$T_TMP/ent.txt" &&
	t_ok "enterprise: CRL DP and AIA from the configuration" ||
	t_fail "enterprise: CRL DP and AIA from the configuration" "missing"
# UTF8String subject (asn1parse shows the string types)
openssl asn1parse -in "$T_TMP/ent.pem" >"$T_TMP/ent.asn1" 2>&1
grep -q "UTF8STRING" "$T_TMP/ent.asn1" && ! grep -Eq "T61STRING|BMPSTRING" "$T_TMP/ent.asn1" &&
	t_ok "enterprise: names are UTF8String" || t_fail "enterprise: names are UTF8String" "other types"
[ "${#ENT}" -ge 31 ] && t_ok "serial has 128 bits ($ENT)" || t_fail "serial has 128 bits" "$ENT"

# --- citizen (RSA key) -----------------------------------------------------
t_csr cit rsa:2048
t_issue_json "$T_TMP/cit.json" citizen "$T_TMP/cit.csr" '{"name":"张三","id_number":"11010519491231002X"}'
s=$(t_admin "$OFF" cit /api/v1/certificates -X POST --data-binary "@$T_TMP/cit.json")
t_expect cit 201 "$s"
t_jget "$T_TMP/cit.body" 'j["certificate"]' >"$T_TMP/cit.pem"
CIT=$(t_jget "$T_TMP/cit.body" 'j["serial"]')
verify "citizen" "$T_TMP/cit.pem"
openssl x509 -in "$T_TMP/cit.pem" -noout -subject -nameopt utf8,sep_comma_plus >"$T_TMP/cit.subj"
grep -q "serialNumber=IDCCN-11010519491231002X" "$T_TMP/cit.subj" && grep -q "CN=张三" "$T_TMP/cit.subj" &&
	t_ok "citizen: serialNumber IDCCN-<id>, Chinese CN" || t_fail "citizen: serialNumber IDCCN-<id>, Chinese CN" "$(cat "$T_TMP/cit.subj")"

# --- refusals name the field ---------------------------------------------
t_issue_json "$T_TMP/b1.json" enterprise "$T_TMP/ent.csr" '{"organization":"某公司","uscc":"91350100M000100Y44"}'
s=$(t_admin "$OFF" baduscc /api/v1/certificates -X POST --data-binary "@$T_TMP/b1.json")
t_expect_err baduscc 400 "$s" 'subject\.uscc: check character'
t_issue_json "$T_TMP/b2.json" citizen "$T_TMP/cit.csr" '{"name":"李四","id_number":"110105194912310021"}'
s=$(t_admin "$OFF" badid /api/v1/certificates -X POST --data-binary "@$T_TMP/b2.json")
t_expect_err badid 400 "$s" 'subject\.id_number: 110105\*+21: check character'
grep -q "110105194912310021" "$T_TMP/badid.body" && t_fail "bad ID number not echoed in full" "echoed" ||
	t_ok "bad ID number not echoed in full"
t_issue_json "$T_TMP/b3.json" enterprise-encryption "$T_TMP/ent.csr" '{"organization":"某公司","uscc":"91350100M000100Y43"}'
s=$(t_admin "$OFF" badkey /api/v1/certificates -X POST --data-binary "@$T_TMP/b3.json")
t_expect_err badkey 400 "$s" 'csr\.key: ec-p256 256 bits is not allowed by profile enterprise-encryption'
# A CSR whose signature does not verify: flip the last byte of its DER.
openssl req -in "$T_TMP/ent.csr" -outform DER -out "$T_TMP/t.der" 2>/dev/null
python3 - "$T_TMP/t.der" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[-1] ^= 0x01
open(sys.argv[1], "wb").write(b)
PY
openssl req -inform DER -in "$T_TMP/t.der" -out "$T_TMP/tampered.csr" 2>/dev/null
t_issue_json "$T_TMP/b4.json" enterprise "$T_TMP/tampered.csr" '{"organization":"某公司","uscc":"91350100M000100Y43"}'
s=$(t_admin "$OFF" badsig /api/v1/certificates -X POST --data-binary "@$T_TMP/b4.json")
t_expect_err badsig 400 "$s" 'csr: the signature does not verify'
t_issue_json "$T_TMP/b5.json" enterprise "$T_TMP/ent.csr" '{"organization":"某公司","uscc":"91350100M000100Y43","email":"x@y.cn"}'
s=$(t_admin "$OFF" badfield /api/v1/certificates -X POST --data-binary "@$T_TMP/b5.json")
t_expect_err badfield 400 "$s" 'subject\.email: not a field of profile enterprise'
t_issue_json "$T_TMP/b6.json" nosuch "$T_TMP/ent.csr" '{}'
s=$(t_admin "$OFF" badprofile /api/v1/certificates -X POST --data-binary "@$T_TMP/b6.json")
t_expect_err badprofile 400 "$s" '^.*profile: .*nosuch'

# --- roles -------------------------------------------------------------------
s=$(t_admin "$AUD" aud_issue /api/v1/certificates -X POST --data-binary "@$T_TMP/ent.json"); t_expect aud_issue 403 "$s"
s=$(t_admin "$SYS" sys_issue /api/v1/certificates -X POST --data-binary "@$T_TMP/ent.json"); t_expect sys_issue 403 "$s"
s=$(t_admin "$AUD" aud_list "/api/v1/certificates"); t_expect aud_list 403 "$s"
s=$(t_admin "$SYS" sys_show "/api/v1/certificates/$ENT"); t_expect sys_show 403 "$s"
s=$(t_admin "$AUD" aud_revoke "/api/v1/certificates/$ENT/revoke" -X POST -d '{}'); t_expect aud_revoke 403 "$s"
s=$(t_admin "$SYS" sys_hold "/api/v1/certificates/$ENT/hold" -X POST); t_expect sys_hold 403 "$s"
s=$(t_admin "$SYS" sys_approve "/api/v1/requests/00000000000000000000000000000000/approve" -X POST); t_expect sys_approve 403 "$s"
s=$(t_admin "$OFF" off_audit "/api/v1/audit"); t_expect off_audit 403 "$s"
s=$(t_admin "$AUD" aud_audit "/api/v1/audit?limit=1000"); t_expect aud_audit 200 "$s"
n=$(t_jget "$T_TMP/aud_audit.body" 'sum(1 for r in j["records"] if r["op"]=="http.denied")')
[ "${n:-0}" -ge 7 ] && t_ok "every refused role is audited ($n http.denied)" ||
	t_fail "every refused role is audited" "only ${n:-0} http.denied"
n=$(t_jget "$T_TMP/aud_audit.body" 'sum(1 for r in j["records"] if r["op"]=="cert.issue" and r["outcome"]=="failure")')
[ "${n:-0}" -ge 6 ] && t_ok "refused requests are audited ($n)" || t_fail "refused requests are audited" "${n:-0}"
grep -q "11010519491231002X\|110105194912310021" "$T_TMP/aud_audit.body" &&
	t_fail "audit holds ID numbers only masked" "full number found" ||
	t_ok "audit holds ID numbers only masked"

# --- read, search ----------------------------------------------------------
s=$(t_admin "$OFF" show "/api/v1/certificates/$ENT"); t_expect show 200 "$s"
[ "$(t_jget "$T_TMP/show.body" 'j["status"]+" "+j["profile"]+" "+j["uscc"]')" = "good enterprise 91350100M000100Y43" ] &&
	t_ok "show: status, profile, uscc" || t_fail "show: status, profile, uscc" "$(head -c 300 "$T_TMP/show.body")"
s=$(t_admin "$OFF" byuscc "/api/v1/certificates?uscc=91350100M000100Y43"); t_expect byuscc 200 "$s"
[ "$(t_jget "$T_TMP/byuscc.body" '",".join(c["serial"] for c in j["certificates"])')" = "$ENT" ] &&
	t_ok "search by USCC" || t_fail "search by USCC" "$(head -c 300 "$T_TMP/byuscc.body")"
s=$(t_admin "$OFF" byid "/api/v1/certificates?id_number=11010519491231002X&profile=citizen&status=good"); t_expect byid 200 "$s"
[ "$(t_jget "$T_TMP/byid.body" '",".join(c["serial"] for c in j["certificates"])')" = "$CIT" ] &&
	t_ok "search by ID number, profile and status" || t_fail "search by ID number" "$(head -c 300 "$T_TMP/byid.body")"
s=$(t_admin "$OFF" page "/api/v1/certificates?limit=2"); t_expect page 200 "$s"
A=$(t_jget "$T_TMP/page.body" 'j["next_after"]')
s=$(t_admin "$OFF" page2 "/api/v1/certificates?limit=2&after=$A"); t_expect page2 200 "$s"
[ "$(t_jget "$T_TMP/page2.body" 'all(c["serial"] > "'"$A"'" for c in j["certificates"])')" = True ] &&
	t_ok "paging continues after the last serial" || t_fail "paging" "$(head -c 300 "$T_TMP/page2.body")"

# --- status changes ------------------------------------------------------------
s=$(t_admin "$OFF" hold "/api/v1/certificates/$CIT/hold" -X POST); t_expect hold 200 "$s"
s=$(t_admin "$OFF" hold2 "/api/v1/certificates/$CIT/hold" -X POST); t_expect hold2 409 "$s"
s=$(t_admin "$OFF" release "/api/v1/certificates/$CIT/release" -X POST); t_expect release 200 "$s"
s=$(t_admin "$OFF" show2 "/api/v1/certificates/$CIT"); [ "$(t_jget "$T_TMP/show2.body" 'j["status"]')" = good ] &&
	t_ok "released certificate is good again" || t_fail "released certificate is good again" "$(head -c 200 "$T_TMP/show2.body")"
s=$(t_admin "$OFF" badreason "/api/v1/certificates/$ENT/revoke" -X POST -d '{"reason":"boredom"}')
t_expect_err badreason 400 "$s" 'reason: '
s=$(t_admin "$OFF" revoke "/api/v1/certificates/$ENT/revoke" -X POST \
	-d '{"reason":"keyCompromise","invalidity_date":"2020-01-02T03:04:05Z"}')
t_expect revoke 200 "$s"
s=$(t_admin "$OFF" revoke2 "/api/v1/certificates/$ENT/revoke" -X POST -d '{"reason":"superseded"}')
t_expect_err revoke2 409 "$s" 'already revoked'
s=$(t_admin "$OFF" holdrev "/api/v1/certificates/$ENT/hold" -X POST); t_expect holdrev 409 "$s"
s=$(t_admin "$OFF" show3 "/api/v1/certificates/$ENT")
[ "$(t_jget "$T_TMP/show3.body" 'j["status"]+" "+j["reason"]+" "+str(j["invalidity_date"])')" = "revoked keyCompromise 1577934245" ] &&
	t_ok "revoked with reason and invalidity date" || t_fail "revoked with reason and invalidity date" "$(head -c 300 "$T_TMP/show3.body")"
s=$(t_admin "$OFF" unknown "/api/v1/certificates/abcdef/revoke" -X POST -d '{}'); t_expect unknown 404 "$s"

# --- dual control ----------------------------------------------------------------
t_csr off2 ec -pkeyopt ec_paramgen_curve:P-256
t_issue_json "$T_TMP/o2.json" officer "$T_TMP/off2.csr" '{"name":"王五","role":"officer"}'
s=$(t_admin "$OFF" dual "/api/v1/certificates" -X POST --data-binary "@$T_TMP/o2.json"); t_expect dual 202 "$s"
RID=$(t_jget "$T_TMP/dual.body" 'j["request_id"]')
s=$(t_admin "$OFF" selfapprove "/api/v1/requests/$RID/approve" -X POST)
t_expect_err selfapprove 403 "$s" 'requester cannot approve'
t_refuse "CLI: the local operator cannot approve its own request" 'requester cannot approve' \
	sh -c "'$GOVPKI' ca issue --dir '$D' --profile tsa --csr '$T_TMP/off2.csr' --field name=T >'$T_TMP/cli_tsa.out' &&
	'$GOVPKI' ca approve --yes --dir '$D' \$(sed -n 's/^request \\([0-9a-f]*\\) .*/\\1/p' '$T_TMP/cli_tsa.out')"
if "$GOVPKI" ca approve --yes --dir "$D" --out "$T_TMP/off2.pem" "$RID" >"$T_TMP/cliapprove.out" 2>&1; then
	t_ok "a second identity (local operator, CLI) approves"; else
	t_fail "a second identity (local operator, CLI) approves" "$(tail -n 3 "$T_TMP/cliapprove.out")"; fi
s=$(t_admin "$OFF" again "/api/v1/requests/$RID/approve" -X POST); t_expect again 409 "$s"
OFF2=$T_TMP/off2
s=$(t_admin "$OFF2" off2_profiles "/api/v1/profiles"); t_expect off2_profiles 200 "$s"
# The second officer requests, the first approves: two certificates, two people.
t_csr tsa ec -pkeyopt ec_paramgen_curve:P-256
t_issue_json "$T_TMP/tsa.json" tsa "$T_TMP/tsa.csr" '{"name":"某市时间戳服务"}'
s=$(t_admin "$OFF2" tsareq "/api/v1/certificates" -X POST --data-binary "@$T_TMP/tsa.json"); t_expect tsareq 202 "$s"
RID2=$(t_jget "$T_TMP/tsareq.body" 'j["request_id"]')
s=$(t_admin "$OFF2" tsaself "/api/v1/requests/$RID2/approve" -X POST); t_expect tsaself 403 "$s"
s=$(t_admin "$OFF" tsaok "/api/v1/requests/$RID2/approve" -X POST); t_expect tsaok 201 "$s"
t_jget "$T_TMP/tsaok.body" 'j["certificate"]' >"$T_TMP/tsa.pem"
verify "tsa (dual control)" "$T_TMP/tsa.pem"
openssl x509 -in "$T_TMP/tsa.pem" -noout -ext extendedKeyUsage 2>/dev/null | tr -d ' ' >"$T_TMP/tsa.eku"
grep -q "critical" "$T_TMP/tsa.eku" && grep -q "^TimeStamping$" "$T_TMP/tsa.eku" &&
	t_ok "tsa: one EKU, timeStamping, critical" || t_fail "tsa: one EKU, timeStamping, critical" "$(cat "$T_TMP/tsa.eku")"
s=$(t_admin "$OFF" reqshow "/api/v1/requests/$RID2"); t_expect reqshow 200 "$s"
[ "$(t_jget "$T_TMP/reqshow.body" 'j["status"]')" = approved ] && t_ok "request shows approved" ||
	t_fail "request shows approved" "$(head -c 300 "$T_TMP/reqshow.body")"

# --- CLI equivalents -------------------------------------------------------------
t_check "CLI: list by USCC" sh -c "'$GOVPKI' ca list --dir '$D' --uscc 91350100M000100Y43 | grep -q '$ENT'"
t_check "CLI: show --pem" sh -c "'$GOVPKI' ca show --dir '$D' --pem '$CIT' | openssl x509 -noout"
t_check "CLI: hold" "$GOVPKI" ca hold --dir "$D" "$CIT"
t_check "CLI: release" "$GOVPKI" ca release --dir "$D" "$CIT"
t_check "CLI: revoke" "$GOVPKI" ca revoke --dir "$D" --reason superseded "$CIT"
t_refuse "CLI: revoking again is a clear error" 'already revoked' "$GOVPKI" ca revoke --dir "$D" "$CIT"
t_refuse "CLI: bad USCC names the field" 'subject.uscc' "$GOVPKI" ca issue --dir "$D" \
	--profile enterprise --csr "$T_TMP/ent.csr" --field organization=X --field uscc=91350100M000100Y4
t_check "CLI: issue enterprise" "$GOVPKI" ca issue --dir "$D" --profile enterprise \
	--csr "$T_TMP/ent.csr" --field organization=某公司 --field uscc=91110000600037341L --out "$T_TMP/cli.pem"
verify "CLI enterprise" "$T_TMP/cli.pem"

# --- the 201 waits for the commit ---------------------------------------
# Another process holds the store's write lock for 2 s: an issuance sent
# meanwhile must not be answered before the lock is released (its row and
# record commit after it). SQLite: a write transaction on the file;
# PostgreSQL: the advisory lock every govpki writer takes (store_pg.c,
# PG_WRITE_LOCK), held in a transaction as another node would.
t_csr held ec -pkeyopt ec_paramgen_curve:P-256
t_issue_json "$T_TMP/held.json" enterprise "$T_TMP/held.csr" '{"organization":"某公司","uscc":"91350100M000100Y43"}'
if t_is_pg "$D"; then
	t_sql "$D" "BEGIN; SELECT pg_advisory_xact_lock(111531081181545); SELECT pg_sleep(2); COMMIT;" >/dev/null 2>&1 &
else
	printf 'BEGIN IMMEDIATE;\n.shell sleep 2\nCOMMIT;\n' | sqlite3 "$D/govpki.db" >/dev/null 2>&1 &
fi
LOCK=$!
sleep 0.3
t0=$(date +%s%N)
t_admin "$OFF" held /api/v1/certificates -X POST --data-binary "@$T_TMP/held.json" >"$T_TMP/held.code" &
CURL=$!
sleep 0.8
kill -0 "$CURL" 2>/dev/null && early=no || early=yes
wait "$CURL"; wait "$LOCK"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
HS=$(t_jget "$T_TMP/held.body" 'j["serial"]')
[ "$(cat "$T_TMP/held.code")" = 201 ] && [ "$early" = no ] && [ "$ms" -ge 1200 ] &&
	[ "$(t_sql "$D" "SELECT count(*) FROM certificates WHERE serial='$HS'")" = 1 ] &&
	[ "$(t_sql "$D" "SELECT count(*) FROM audit WHERE op='cert.issue' AND outcome='success' AND object='$HS'")" = 1 ] &&
	t_ok "201 only after the write lock is released (${ms} ms), row and record stored" ||
	t_fail "201 only after the commit" "status $(cat "$T_TMP/held.code"), answered early: $early, ${ms} ms, serial '$HS'"

# No 201 without its record: the log refuses cert.issue success records (a
# trigger added under the running server). The answer is an error naming
# the cause, nothing is stored, and the failure itself is audited; once the
# log accepts records again, issuance works.
NC0=$(t_sql "$D" "SELECT count(*) FROM certificates")
t_inject "$D" t_ca_fail "BEFORE INSERT ON audit" "NEW.op = 'cert.issue' AND NEW.outcome = 'success'" \
	'injected audit failure' >/dev/null
s=$(t_admin "$OFF" nolog /api/v1/certificates -X POST --data-binary "@$T_TMP/held.json")
t_expect_err nolog 500 "$s" 'injected audit failure'
NC1=$(t_sql "$D" "SELECT count(*) FROM certificates")
NF=$(t_sql "$D" "SELECT count(*) FROM audit WHERE op='cert.issue' AND outcome='failure'
	AND json_extract(details,'$.reason') LIKE '%injected audit failure%'")
[ "$NC1" = "$NC0" ] && [ "$NF" = 1 ] && t_ok "a certificate whose record fails is not stored; the failure is audited" ||
	t_fail "a certificate whose record fails is not stored; the failure is audited" "$NC0 -> $NC1 certificates, $NF failure records"
t_uninject "$D" t_ca_fail audit >/dev/null
s=$(t_admin "$OFF" relog /api/v1/certificates -X POST --data-binary "@$T_TMP/held.json")
t_expect relog 201 "$s"

t_check "audit log verifies after all of it" "$GOVPKI" audit verify --dir "$D"
# A CLI run that changed state seals its records with a checkpoint; the
# one record left after it is the checkpoint's own.
"$GOVPKI" audit verify --dir "$D" --json >"$T_TMP/av.json" 2>&1
"$GOVPKI" ca hold --dir "$D" "$ENT" >/dev/null 2>&1
"$GOVPKI" audit verify --dir "$D" --json >"$T_TMP/av2.json" 2>&1
c1=$(t_jget "$T_TMP/av.json" 'j["checkpoints"]'); c2=$(t_jget "$T_TMP/av2.json" 'j["checkpoints"]')
u2=$(t_jget "$T_TMP/av2.json" 'j["unsealed"]')
[ -n "$c1" ] && [ "$c2" = "$((c1 + 1))" ] && [ "$u2" = 1 ] &&
	t_ok "a CLI change is sealed by a checkpoint at exit" ||
	t_fail "a CLI change is sealed by a checkpoint at exit" "checkpoints $c1 -> $c2, unsealed $u2"
t_done ca
