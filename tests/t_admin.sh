#!/usr/bin/env bash
# t_admin.sh: administrative identity and dual control end to end. A fresh
# instance and server, then:
#   - the role comes from the store only: a certificate whose subject says
#     title=officer but whose store row carries no role (an enterprise
#     certificate as issued before profiles were kept from setting a title)
#     is refused with 401, audited; a role stored under a profile that
#     grants none too; a profile putting a title in a role-less profile
#     stops the CLI naming file and field;
#   - dual control between persons: an officer holding two certificates
#     cannot approve their own request with the second (403, audited);
#     another person can;
#   - requests listed (filters, paging), shown with what they would issue
#     (the key fingerprint checked against openssl), refused with a reason
#     (audited), and a refused request not approvable, over the API and the
#     CLI;
#   - name fields: a 65-character organization and a U+202E refused naming
#     the field, invalid UTF-8 from the CLI too;
#   - queries: %ff, an unknown and a duplicated parameter answered 400
#     naming the parameter, on both listings;
#   - `govpki ca`: usage errors exit 2 in every sub-command, each with its
#     own --help; approve asks on the terminal, refuses without one.
. "$(dirname "$0")/lib.sh"

D=$T_TMP/inst

# audited OP OUTCOME OBJECT: the audit log holds such a record
audited() {
	[ "$(t_sql "$D" "SELECT count(*) FROM audit WHERE op='$1' AND outcome='$2' AND object='$3'")" -ge 1 ]
}
# cli_rc NAME WANT CMD...: exit status of a CLI run
cli_rc() {
	local name=$1 want=$2; shift 2
	"$@" >"$T_TMP/cli.out" 2>&1 </dev/null
	local rc=$?
	if [ "$rc" = "$want" ]; then t_ok "$name"; else
		t_fail "$name" "exit $rc, want $want: $(tail -n 3 "$T_TMP/cli.out" | tr '\n' ' ')"; fi
}
# approve_local RID OUT: the local operator approves with --yes
approve_local() {
	"$GOVPKI" ca approve --yes --dir "$D" --out "$2" "$1" >"$T_TMP/approve.out" 2>&1 </dev/null
}

if [ ! -x "$GOVPKI" ]; then t_fail binary "$GOVPKI not built"; t_done admin; exit 1; fi
if ! "$GOVPKI" init --dir "$D" >"$T_TMP/init.out" 2>&1; then
	t_fail init "$(tail -n 3 "$T_TMP/init.out" | tr '\n' ' ')"; t_done admin; exit 1
fi
OFF=$D/admin/officer

# --- `govpki ca`: usage errors exit 2, each sub-command its own --help ------
cli_rc "ca issue without arguments exits 2" 2 "$GOVPKI" ca issue --dir "$D"
grep -q -- "--profile and --csr are required" "$T_TMP/cli.out" &&
	t_ok "ca issue says what is missing" || t_fail "ca issue says what is missing" "$(cat "$T_TMP/cli.out")"
for sub in issue approve refuse requests request revoke hold release list show; do
	"$GOVPKI" ca "$sub" --help >"$T_TMP/help.out" 2>&1
	rc=$?
	if [ "$rc" = 0 ] && grep -q "^usage: govpki ca $sub " "$T_TMP/help.out"; then
		t_ok "ca $sub --help (exit 0, its own usage)"
	else
		t_fail "ca $sub --help" "exit $rc: $(head -n 2 "$T_TMP/help.out" | tr '\n' ' ')"
	fi
done
cli_rc "ca (no sub-command) exits 2" 2 "$GOVPKI" ca
cli_rc "ca frobnicate exits 2" 2 "$GOVPKI" ca frobnicate --dir "$D"
cli_rc "ca approve without an id exits 2" 2 "$GOVPKI" ca approve --dir "$D" --yes
cli_rc "ca approve with a malformed id exits 2" 2 "$GOVPKI" ca approve --dir "$D" --yes nothex
cli_rc "ca refuse without --reason exits 2" 2 "$GOVPKI" ca refuse --dir "$D" 0123456789abcdef0123456789abcdef
cli_rc "ca revoke without a serial exits 2" 2 "$GOVPKI" ca revoke --dir "$D"
cli_rc "ca revoke with a malformed serial exits 2" 2 "$GOVPKI" ca revoke --dir "$D" xyz
cli_rc "ca hold with two serials exits 2" 2 "$GOVPKI" ca hold --dir "$D" 1a 2b
cli_rc "ca list with an option of issue exits 2" 2 "$GOVPKI" ca list --dir "$D" --csr x.csr
cli_rc "ca list --status bogus exits 2" 2 "$GOVPKI" ca list --dir "$D" --status bogus
cli_rc "ca requests --limit 0 exits 2" 2 "$GOVPKI" ca requests --dir "$D" --limit 0
cli_rc "ca show --yes exits 2" 2 "$GOVPKI" ca show --dir "$D" --yes 1a
cli_rc "ca issue --field without = exits 2" 2 "$GOVPKI" ca issue --dir "$D" --profile enterprise --csr x --field organization
cli_rc "ca issue --subject that is not a JSON object exits 2" 2 "$GOVPKI" ca issue --dir "$D" --profile enterprise --csr x --subject '[1]'
cli_rc "ca list is fine" 0 "$GOVPKI" ca list --dir "$D"

# --- a profile may not put a title where no role is stored -----------------
mkdir -p "$T_TMP/titlepol"
cp "$(dirname "$0")/../policies/"*.json "$T_TMP/titlepol/"
python3 - "$T_TMP/titlepol/enterprise.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["subject"].append({"field": "title", "attribute": "title"})
json.dump(p, open(sys.argv[1], "w"))
PY
cp "$D/govpki.json" "$T_TMP/govpki.json.good"
t_setcfg "$D/govpki.json" "profiles_dir=\"$T_TMP/titlepol\""
t_refuse "a title in a role-less profile stops the CLI, naming file and field" \
	'enterprise.json: subject\[5\]: attribute: title is for the administrative role' \
	"$GOVPKI" ca list --dir "$D"
cp "$T_TMP/govpki.json.good" "$D/govpki.json"

t_serve_up t_admin "$D" --quiet
t_ok "serve starts"

# --- certificates of the officer profile, approved by the local operator ----
# issue_officer NAME SUBJECT_JSON: requested by the init officer over the
# API, approved on the CLI; leaves $T_TMP/NAME.pem and .key
issue_officer() {
	local n=$1
	t_csr "$n"
	t_issue_json "$T_TMP/$n.json" officer "$T_TMP/$n.csr" "$2"
	s=$(t_admin "$OFF" "$n.req" /api/v1/certificates -X POST --data-binary "@$T_TMP/$n.json")
	local rid
	rid=$(t_jget "$T_TMP/$n.req.body" 'j["request_id"]')
	if [ "$s" = 202 ] && approve_local "$rid" "$T_TMP/$n.pem"; then
		t_ok "officer certificate $n issued ($rid)"
	else
		t_fail "officer certificate $n issued" "status $s: $(cat "$T_TMP/$n.req.body") $(tail -n 2 "$T_TMP/approve.out")"
	fi
}
issue_officer wang '{"name":"王五","role":"officer"}'
WANG=$T_TMP/wang
# The init officer's second certificate: same person (same name and
# organization; init lists CN first, the profile O first).
issue_officer offb '{"name":"govpki officer","role":"officer"}'
OFFB=$T_TMP/offb
issue_officer legacy '{"name":"临时","role":"officer"}'
LEG=$T_TMP/legacy
s=$(t_admin "$LEG" legacy_ok /api/v1/profiles); t_expect legacy_ok 200 "$s"

# --- the role comes from the store only ------------------------------------
# The certificate says title=officer. Recorded as an enterprise certificate
# without a role, as one issued before this change (when a profile could set
# a title without storing a role), it is refused.
LS=$(t_serial "$LEG.pem")
openssl x509 -in "$LEG.pem" -noout -subject -nameopt RFC2253 | grep -q "title=officer" &&
	t_ok "the certificate's subject says title=officer" || t_fail "subject title" "$(openssl x509 -in "$LEG.pem" -noout -subject)"
t_sql "$D" "UPDATE certificates SET role=NULL, profile='enterprise' WHERE serial='$LS'"
s=$(t_admin "$LEG" notitle /api/v1/profiles)
t_expect_err notitle 401 "$s" 'no administrative role in the store'
s=$(t_admin "$LEG" notitle_issue /api/v1/certificates -X POST --data-binary "@$T_TMP/wang.json")
t_expect notitle_issue 401 "$s"
[ "$(t_sql "$D" "SELECT count(*) FROM audit WHERE op='http.unauthenticated' AND json_extract(details,'$.reason') LIKE '%$LS carries no administrative role%'")" -ge 2 ] &&
	t_ok "those refusals are audited (http.unauthenticated)" ||
	t_fail "those refusals are audited" "$(t_sql "$D" "SELECT op, details FROM audit ORDER BY seq DESC LIMIT 2")"
# A role stored under a profile that grants none is no role either.
t_sql "$D" "UPDATE certificates SET role='officer' WHERE serial='$LS'"
s=$(t_admin "$LEG" norolprof /api/v1/profiles)
t_expect_err norolprof 401 "$s" 'grants no role'
t_sql "$D" "UPDATE certificates SET profile='officer', role='officer' WHERE serial='$LS'"
s=$(t_admin "$LEG" legacy_back /api/v1/profiles); t_expect legacy_back 200 "$s"

# --- dual control between persons --------------------------------------------
t_csr tsa1
t_issue_json "$T_TMP/tsa1.json" tsa "$T_TMP/tsa1.csr" '{"name":"某市时间戳服务"}'
s=$(t_admin "$OFF" tsa1 /api/v1/certificates -X POST --data-binary "@$T_TMP/tsa1.json"); t_expect tsa1 202 "$s"
RID1=$(t_jget "$T_TMP/tsa1.body" 'j["request_id"]')
s=$(t_admin "$OFFB" twocerts "/api/v1/requests/$RID1/approve" -X POST)
t_expect_err twocerts 403 "$s" 'not with another certificate'
audited cert.approve denied "$RID1" && t_ok "the refused self-approval is audited (cert.approve denied)" ||
	t_fail "the refused self-approval is audited" "$(t_sql "$D" "SELECT op, outcome, object FROM audit ORDER BY seq DESC LIMIT 3")"
s=$(t_admin "$OFF" selfsame "/api/v1/requests/$RID1/approve" -X POST); t_expect selfsame 403 "$s"
s=$(t_admin "$WANG" otherperson "/api/v1/requests/$RID1/approve" -X POST); t_expect otherperson 201 "$s"

# --- requests: listing, showing, refusing -------------------------------------
t_csr r2; t_issue_json "$T_TMP/r2.json" ocsp-signer "$T_TMP/r2.csr" '{"name":"OCSP 2"}'
s=$(t_admin "$WANG" r2 /api/v1/certificates -X POST --data-binary "@$T_TMP/r2.json"); t_expect r2 202 "$s"
RID2=$(t_jget "$T_TMP/r2.body" 'j["request_id"]')
t_csr r3; t_issue_json "$T_TMP/r3.json" officer "$T_TMP/r3.csr" '{"name":"赵六","role":"auditor"}'
s=$(t_admin "$OFF" r3 /api/v1/certificates -X POST --data-binary "@$T_TMP/r3.json"); t_expect r3 202 "$s"
RID3=$(t_jget "$T_TMP/r3.body" 'j["request_id"]')

s=$(t_admin "$OFF" list_pending "/api/v1/requests?status=pending"); t_expect list_pending 200 "$s"
[ "$(t_jget "$T_TMP/list_pending.body" '" ".join(r["id"] for r in j["requests"])')" = "$RID2 $RID3" ] &&
	t_ok "pending requests listed, oldest first" || t_fail "pending requests listed" "$(head -c 400 "$T_TMP/list_pending.body")"
WANGID=$(t_jget "$T_TMP/list_pending.body" '[r for r in j["requests"] if r["id"]=="'"$RID2"'"][0]["requester_id"]')
ENC=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$WANGID")
s=$(t_admin "$OFF" list_req "/api/v1/requests?requester=$ENC"); t_expect list_req 200 "$s"
[ "$(t_jget "$T_TMP/list_req.body" '" ".join(r["id"] for r in j["requests"])')" = "$RID2" ] &&
	t_ok "filter by requester ($WANGID)" || t_fail "filter by requester" "$(head -c 400 "$T_TMP/list_req.body")"
s=$(t_admin "$OFF" list_prof "/api/v1/requests?profile=tsa&status=approved"); t_expect list_prof 200 "$s"
[ "$(t_jget "$T_TMP/list_prof.body" '" ".join(r["id"]+":"+r["serial"][:4] for r in j["requests"])' | cut -d: -f1)" = "$RID1" ] &&
	t_ok "filter by profile and status; the approved one names its serial" || t_fail "filter by profile" "$(head -c 400 "$T_TMP/list_prof.body")"
s=$(t_admin "$OFF" all "/api/v1/requests"); t_expect all 200 "$s"
ALL=$(t_jget "$T_TMP/all.body" '" ".join(r["id"] for r in j["requests"])')
s=$(t_admin "$OFF" page1 "/api/v1/requests?limit=2"); t_expect page1 200 "$s"
A=$(t_jget "$T_TMP/page1.body" 'j["next_after"]')
s=$(t_admin "$OFF" page2 "/api/v1/requests?limit=2&after=$A"); t_expect page2 200 "$s"
[ "$(t_jget "$T_TMP/page1.body" '" ".join(r["id"] for r in j["requests"])') $(t_jget "$T_TMP/page2.body" '" ".join(r["id"] for r in j["requests"])')" = \
	"$(echo "$ALL" | cut -d' ' -f1-4)" ] && [ "$(echo "$ALL" | wc -w)" = 6 ] &&
	t_ok "paging with next_after" || t_fail "paging with next_after" "$ALL / $A / $(head -c 300 "$T_TMP/page2.body")"

s=$(t_admin "$OFF" show3 "/api/v1/requests/$RID3"); t_expect show3 200 "$s"
FP=$(openssl req -in "$T_TMP/r3.csr" -pubkey -noout | openssl pkey -pubin -outform DER |
	openssl dgst -sha256 -c | sed 's/.*= //' | tr 'a-f' 'A-F')
[ "$(t_jget "$T_TMP/show3.body" 'j["issue"]["key"]["fingerprint"]')" = "sha256:$FP" ] &&
	t_ok "the key fingerprint shown is openssl's SHA-256 of the request's key" ||
	t_fail "key fingerprint" "$(t_jget "$T_TMP/show3.body" 'j["issue"]["key"]') vs $FP"
[ "$(t_jget "$T_TMP/show3.body" 'j["issue"]["role"]+"|"+j["issue"]["profile"]+"|"+j["issue"]["key"]["type"]+"|"+str(j["issue"]["validity_days"])+"|"+j["requester"][:3]')" = "auditor|officer|ec-p256|365|tit" ] &&
	t_jget "$T_TMP/show3.body" 'j["issue"]["subject"]' | grep -q "CN=赵六" &&
	t_ok "show: profile, subject, role, key type, validity, requester" ||
	t_fail "show: what would be issued" "$(head -c 600 "$T_TMP/show3.body")"

s=$(t_admin "$WANG" refuse_noreason "/api/v1/requests/$RID3/refuse" -X POST -d '{}')
t_expect_err refuse_noreason 400 "$s" 'reason: required'
s=$(t_admin "$WANG" refuse3 "/api/v1/requests/$RID3/refuse" -X POST -d '{"reason":"申请人已调离"}')
t_expect refuse3 200 "$s"
audited cert.refuse success "$RID3" && t_ok "the refusal is audited (cert.refuse)" ||
	t_fail "the refusal is audited" "no cert.refuse record"
s=$(t_admin "$WANG" approve_refused "/api/v1/requests/$RID3/approve" -X POST)
t_expect_err approve_refused 409 "$s" 'is refused, no longer pending'
cli_rc "CLI: a refused request is not approvable" 1 "$GOVPKI" ca approve --yes --dir "$D" "$RID3"
grep -q "refused" "$T_TMP/cli.out" && t_ok "CLI says it is refused" || t_fail "CLI says it is refused" "$(cat "$T_TMP/cli.out")"
[ "$(t_sql "$D" "SELECT status||'|'||reason FROM requests WHERE id='$RID3'")" = "refused|申请人已调离" ] &&
	t_ok "refused, with its reason, stays refused" || t_fail "refused stays refused" "$(t_sql "$D" "SELECT status, reason FROM requests WHERE id='$RID3'")"
cli_rc "CLI: ca refuse --reason" 0 "$GOVPKI" ca refuse --dir "$D" --reason "重复申请" "$RID2"
audited cert.refuse success "$RID2" && t_ok "CLI refusal audited" || t_fail "CLI refusal audited" "none"
"$GOVPKI" ca requests --dir "$D" --status refused --json >"$T_TMP/cli_req.out" 2>&1
[ "$(grep -c '"status":"refused"' "$T_TMP/cli_req.out")" = 2 ] &&
	t_ok "CLI: ca requests --status refused lists both" || t_fail "CLI: ca requests" "$(cat "$T_TMP/cli_req.out")"

# --- approve asks on the terminal -----------------------------------------
t_csr r4; t_issue_json "$T_TMP/r4.json" tsa "$T_TMP/r4.csr" '{"name":"TSA 4"}'
s=$(t_admin "$OFF" r4 /api/v1/certificates -X POST --data-binary "@$T_TMP/r4.json"); t_expect r4 202 "$s"
RID4=$(t_jget "$T_TMP/r4.body" 'j["request_id"]')
cli_rc "CLI: approve without a terminal and without --yes exits 2" 2 "$GOVPKI" ca approve --dir "$D" "$RID4"
grep -q "no terminal to confirm on" "$T_TMP/cli.out" && t_ok "... saying why" || t_fail "... saying why" "$(cat "$T_TMP/cli.out")"
# on_tty ANSWER: runs approve on a pseudo-terminal and answers the prompt
on_tty() {
	python3 - "$GOVPKI" "$D" "$RID4" "$1" >"$T_TMP/tty.out" 2>&1 <<'PY'
import os, pty, select, sys, time
gp, d, rid, answer = sys.argv[1:5]
pid, fd = pty.fork()
if pid == 0:
    os.execv(gp, [gp, "ca", "approve", "--dir", d, rid])
out, end, asked = b"", time.time() + 60, False
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 1)
    if not r:
        continue
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
    if not asked and b"[y/N]" in out:
        os.write(fd, answer.encode() + b"\n")
        asked = True
_, st = os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
print("\nEXIT %d" % os.WEXITSTATUS(st))
PY
}
on_tty n
grep -q "fingerprint *sha256:" "$T_TMP/tty.out" && grep -q "subject *CN=TSA 4" "$T_TMP/tty.out" &&
	grep -q "requester" "$T_TMP/tty.out" && t_ok "CLI approve shows what it would issue" ||
	t_fail "CLI approve shows what it would issue" "$(head -c 600 "$T_TMP/tty.out")"
grep -q "^EXIT 1" "$T_TMP/tty.out" && grep -q "not approved" "$T_TMP/tty.out" &&
	[ "$(t_sql "$D" "SELECT status FROM requests WHERE id='$RID4'")" = pending ] &&
	t_ok "answering no issues nothing (exit 1, still pending)" ||
	t_fail "answering no issues nothing" "$(tail -c 300 "$T_TMP/tty.out")"
on_tty y
grep -q "^EXIT 0" "$T_TMP/tty.out" && [ "$(t_sql "$D" "SELECT status FROM requests WHERE id='$RID4'")" = approved ] &&
	t_ok "answering yes approves" || t_fail "answering yes approves" "$(tail -c 300 "$T_TMP/tty.out")"

# --- name fields --------------------------------------------------------------
t_csr ent
ORG65=$(python3 -c 'print("华" * 65)')
t_issue_json "$T_TMP/org65.json" enterprise "$T_TMP/ent.csr" "{\"organization\":\"$ORG65\",\"uscc\":\"91350100M000100Y43\"}"
s=$(t_admin "$OFF" org65 /api/v1/certificates -X POST --data-binary "@$T_TMP/org65.json")
t_expect_err org65 400 "$s" 'subject\.organization: 65 characters; at most 64'
ORG64=$(python3 -c 'print("华" * 64)')
t_issue_json "$T_TMP/org64.json" enterprise "$T_TMP/ent.csr" "{\"organization\":\"$ORG64\",\"uscc\":\"91350100M000100Y43\"}"
s=$(t_admin "$OFF" org64 /api/v1/certificates -X POST --data-binary "@$T_TMP/org64.json")
t_expect org64 201 "$s"
t_issue_json "$T_TMP/rlo.json" enterprise "$T_TMP/ent.csr" '{"organization":"某某\u202e司公限有","uscc":"91350100M000100Y43"}'
s=$(t_admin "$OFF" rlo /api/v1/certificates -X POST --data-binary "@$T_TMP/rlo.json")
t_expect_err rlo 400 "$s" 'subject\.organization: character 3 is U\+202E'
t_issue_json "$T_TMP/zw.json" citizen "$T_TMP/ent.csr" '{"name":"张\u200b三","id_number":"11010519491231002X"}'
s=$(t_admin "$OFF" zw /api/v1/certificates -X POST --data-binary "@$T_TMP/zw.json")
t_expect_err zw 400 "$s" 'subject\.name: character 2 is U\+200B'
t_refuse "CLI: invalid UTF-8 in a field is refused naming it" 'subject\.organization: not valid UTF-8' \
	"$GOVPKI" ca issue --dir "$D" --profile enterprise --csr "$T_TMP/ent.csr" \
	--field "organization=$(printf 'ab\377')" --field uscc=91350100M000100Y43
t_refuse "CLI: a bidi override in a field is refused naming it" 'subject\.organization: character 2 is U\+202E' \
	"$GOVPKI" ca issue --dir "$D" --profile enterprise --csr "$T_TMP/ent.csr" \
	--field "organization=a$(printf '\342\200\256')b" --field uscc=91350100M000100Y43

# --- queries ------------------------------------------------------------------
for path in /api/v1/certificates /api/v1/requests; do
	n=$(basename "$path")
	s=$(t_admin "$OFF" "q_ff_$n" "$path?profile=%ff")
	t_expect_err "q_ff_$n" 400 "$s" 'profile: not valid UTF-8'
	s=$(t_admin "$OFF" "q_unknown_$n" "$path?colour=red")
	t_expect_err "q_unknown_$n" 400 "$s" 'colour: not a parameter'
	s=$(t_admin "$OFF" "q_dup_$n" "$path?status=revoked&status=revoked")
	[ "$n" = requests ] && s=$(t_admin "$OFF" "q_dup_$n" "$path?status=pending&status=pending")
	t_expect_err "q_dup_$n" 400 "$s" 'status: given more than once'
	s=$(t_admin "$OFF" "q_empty_$n" "$path?profile=")
	t_expect_err "q_empty_$n" 400 "$s" 'profile: empty'
	s=$(t_admin "$OFF" "q_nul_$n" "$path?profile=a%00b")
	t_expect_err "q_nul_$n" 400 "$s" 'profile: character 2 is U\+0000'
	s=$(t_admin "$OFF" "q_limit_$n" "$path?limit=0")
	t_expect_err "q_limit_$n" 400 "$s" 'limit'
	s=$(t_admin "$OFF" "q_status_$n" "$path?status=bogus")
	t_expect_err "q_status_$n" 400 "$s" 'status: one of'
done
s=$(t_admin "$OFF" q_show "/api/v1/requests/$RID1?x=1")
t_expect_err q_show 400 "$s" 'x: not a parameter of this request \(it takes none\)'
# The router refuses a query on every admin route that reads none, and the
# audit and CRL routes parse theirs like the listings.
AUD=$D/admin/auditor
SYSA=$D/admin/sysadmin
s=$(t_admin "$SYSA" q_config "/api/v1/config?verbose=1")
t_expect_err q_config 400 "$s" 'verbose: not a parameter of this request \(it takes none\)'
s=$(t_admin "$OFF" q_profiles "/api/v1/profiles?x")
t_expect_err q_profiles 400 "$s" 'x: '
s=$(t_admin "$AUD" q_averify "/api/v1/audit/verify?full=1")
t_expect_err q_averify 400 "$s" 'full: not a parameter'
s=$(t_admin "$AUD" q_alist_dup "/api/v1/audit?after=1&after=2")
t_expect_err q_alist_dup 400 "$s" 'after: given more than once'
s=$(t_admin "$AUD" q_alist_unknown "/api/v1/audit?since=1")
t_expect_err q_alist_unknown 400 "$s" 'since: not a parameter'
s=$(t_admin "$AUD" q_alist_ff "/api/v1/audit?limit=%ff")
t_expect_err q_alist_ff 400 "$s" 'limit: '
s=$(t_admin "$AUD" q_alist_ok "/api/v1/audit?after=0&limit=2")
t_expect q_alist_ok 200 "$s"
s=$(t_admin "$OFF" q_crl_bogus "/api/v1/crl?ca=bogus" -X POST)
t_expect_err q_crl_bogus 400 "$s" 'ca: '
s=$(t_admin "$OFF" q_crl_dup "/api/v1/crl?ca=ca&ca=root" -X POST)
t_expect_err q_crl_dup 400 "$s" 'ca: given more than once'
s=$(t_req q_verify_pub "$PUB/api/v1/verify?x=1" -X POST -H 'Content-Type: application/json' --data-binary '{}')
t_expect_err q_verify_pub 400 "$s" 'x: not a parameter'

t_check "audit log verifies after all of it" "$GOVPKI" audit verify --dir "$D"
t_done admin
