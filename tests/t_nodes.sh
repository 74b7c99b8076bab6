#!/usr/bin/env bash
# t_nodes.sh: three `govpki serve` nodes on one PostgreSQL store, each in a
# directory of its own (copies of one instance: the same configuration and
# keys, as machines reaching one HSM would have), on its own ports:
#   - issuance, time-stamps and OCSP spread over the nodes while node 2 is
#     killed (SIGKILL) and restarted; every certificate and time-stamp a
#     client received is stored and audited, no serial twice, and
#     `audit verify` passes over the one chain all nodes appended to;
#   - a revocation through node 1 is answered "revoked" by OCSP on node 3
#     on the next request (its pre-signed "good" is not reused), and node
#     3's admin listener refuses the revoked administrator's next request;
#   - one node at a time runs the CRL schedule (the store's lease); when
#     its holder is killed another takes it over (audited), and every node
#     serves the CRLs the holder makes (published through the store);
#     while someone else holds the lease (an intruder's row), no node
#     makes a CRL, whatever is due; a second process started with a node
#     name in use is refused at start (audited);
#   - a node whose database goes away answers 503 on /healthz and refuses
#     state changes, and works again once the database is back.
. "$(dirname "$0")/lib.sh"

if ! t_pg; then
	t_fail "PostgreSQL cluster" "tests/pg.sh start failed"
	t_done nodes
	exit 1
fi
cd "$T_TMP" || exit 1
URL=$(t_pgdb nodes) || { t_fail "database" "CREATE DATABASE failed"; t_done nodes; exit 1; }
sql() { t_pgsql -d nodes -tA -c "$1" 2>&1; }

if ! "$GOVPKI" init --dir "$T_TMP/inst" --dev-clock --store "$URL" >init.out 2>&1; then
	t_fail "init --store" "$(tail -n 3 init.out | tr '\n' ' ')"
	t_done nodes
	exit 1
fi
# Status changes reach the CRL within a second.
t_setcfg "$T_TMP/inst/govpki.json" "crl.delay_s=1"
declare -a DIR PUBP ADMP PID
for i in 1 2 3; do
	DIR[$i]=$T_TMP/node$i
	cp -a "$T_TMP/inst" "${DIR[$i]}"
	PUBP[$i]=$(t_free_port)
	ADMP[$i]=$(t_free_port)
done
pub() { echo "http://127.0.0.1:${PUBP[$1]}"; }
adm() { echo "https://127.0.0.1:${ADMP[$1]}"; }
start_node() {
	local i=$1
	t_bg env GOVPKI_TEST_CLOCK=ok "$GOVPKI" serve --dir "${DIR[$i]}" --node "n$i" \
		--http "127.0.0.1:${PUBP[$i]}" --https "127.0.0.1:${ADMP[$i]}" --quiet \
		>>"$T_TMP/n$i.out" 2>>"$T_TMP/n$i.err"
	PID[$i]=$T_LAST_PID
	t_wait_http "$(pub "$i")/healthz" 30
}
for i in 1 2 3; do
	if ! start_node "$i"; then
		t_fail "node $i starts" "$(tail -n 3 "$T_TMP/n$i.err" | tr '\n' ' ')"
		t_done nodes
		exit 1
	fi
done
t_ok "three nodes serve one store"
C=$T_TMP/inst/certs
OFF=$T_TMP/inst/admin/officer
AUD=$T_TMP/inst/admin/auditor
cat "$C/ca.pem" "$C/root.pem" >chain.pem
# adm_req NODE NAME PATH [curl args]: an admin request as the officer.
adm_req() {
	local i=$1 n=$2 p=$3; shift 3
	curl -s --max-time 20 -o "$T_TMP/$n.body" -w '%{http_code}' --cacert "$C/root.pem" \
		--cert "$OFF.pem" --key "$OFF.key" "$@" "$(adm "$i")$p" 2>/dev/null
}
t_csr load
t_issue_json load.json enterprise load.csr \
	'{"organization":"某某数据有限公司","uscc":"91350100M000100Y43"}'
echo "time-stamped by a node" >data.txt
openssl ts -query -data data.txt -sha256 -cert -out q.tsq 2>/dev/null

# --- load over the three nodes; node 2 killed and restarted -----------------
# load NODE: issuance, time-stamps and OCSP against one node, 12 rounds;
# what a client received is appended to issued.txt and stamped.txt.
load() {
	local i=$1 k s
	for k in $(seq 1 12); do
		s=$(adm_req "$i" "l$i.$k" /api/v1/certificates -X POST --data-binary @load.json)
		[ "$s" = 201 ] && t_jget "$T_TMP/l$i.$k.body" 'j["serial"]' >>issued.txt
		s=$(curl -s --max-time 20 -o "t$i.$k.tsr" -w '%{http_code}' \
			-H 'Content-Type: application/timestamp-query' --data-binary @q.tsq \
			"$(pub "$i")/tsa" 2>/dev/null)
		if [ "$s" = 200 ] && openssl ts -reply -in "t$i.$k.tsr" -text 2>/dev/null |
			grep -q 'Status: Granted'; then
			openssl ts -reply -in "t$i.$k.tsr" -text 2>/dev/null |
				sed -n 's/^Serial number: 0x//p' | tr 'A-F' 'a-f' | sed 's/^0*//' >>stamped.txt
		fi
		curl -s --max-time 20 -o /dev/null "$(pub "$i")/healthz" 2>/dev/null
	done
}
: >issued.txt
: >stamped.txt
load 1 & L1=$!
load 2 & L2=$!
load 3 & L3=$!
T_PIDS="$T_PIDS $L1 $L2 $L3" # stopped by t_cleanup on every path
sleep 2
kill -KILL "${PID[2]}" 2>/dev/null
wait "${PID[2]}" 2>/dev/null
t_ok "node 2 killed (SIGKILL) under load"
# Its name's lease, which the dead run left, is waited out first.
if start_node 2 && grep -q "n2: n2/.* holds the name until its lease expires" "$T_TMP/n2.err"; then
	t_ok "node 2 restarts on the same store, once its dead run's lease on the name expired"
else
	t_fail "node 2 restarts on the same store" "$(tail -n 3 "$T_TMP/n2.err" | tr '\n' ' ')"; fi
wait "$L1" "$L2" "$L3"
NI=$(wc -l <issued.txt)
NT=$(wc -l <stamped.txt)
[ "$NI" -ge 20 ] && [ "$NT" -ge 20 ] && t_ok "clients received $NI certificates and $NT time-stamps" ||
	t_fail "clients received certificates and time-stamps" "$NI certificates, $NT time-stamps"
[ -z "$(sort issued.txt | uniq -d)" ] && [ -z "$(sort stamped.txt | uniq -d)" ] &&
	t_ok "no serial received twice" || t_fail "no serial received twice" "$(sort issued.txt stamped.txt | uniq -d | head -n 3)"
list() { sed "s/.*/'&'/" "$1" | paste -sd, -; }
got=$(sql "SELECT count(*) FROM certificates WHERE serial IN ($(list issued.txt))")
rec=$(sql "SELECT count(DISTINCT object) FROM audit WHERE op = 'cert.issue' AND outcome = 'success' AND object IN ($(list issued.txt))")
[ "$got" = "$NI" ] && [ "$rec" = "$NI" ] &&
	t_ok "every certificate received is stored ($got) and audited ($rec)" ||
	t_fail "every certificate received is stored and audited" "$NI received, $got stored, $rec audited"
rec=$(sql "SELECT count(DISTINCT ltrim(object, '0')) FROM audit WHERE op = 'tsa.stamp' AND outcome = 'success' AND ltrim(object, '0') IN ($(list stamped.txt))")
[ "$rec" = "$NT" ] && t_ok "every time-stamp received is audited ($rec)" ||
	t_fail "every time-stamp received is audited" "$NT received, $rec audited"
[ "$(sql "SELECT count(*) - count(DISTINCT serial) FROM certificates")" = 0 ] &&
	t_ok "no duplicate serial in the store" || t_fail "no duplicate serial in the store" "duplicates"
[ "$(sql "SELECT count(DISTINCT details::json->>'node') FROM audit WHERE op = 'server.start'")" = 3 ] &&
	t_ok "the one chain holds the records of all three nodes" ||
	t_fail "the one chain holds the records of all three nodes" "$(sql "SELECT details FROM audit WHERE op = 'server.start'")"
t_check "audit verify passes over the one chain" "$GOVPKI" audit verify --dir "${DIR[1]}"

# --- a revocation on node 1, OCSP and admin authentication on node 3 ------
SER=$(head -n 1 issued.txt)
adm_req 1 get.$SER "/api/v1/certificates/$SER" >/dev/null
t_jget "get.$SER.body" 'j["certificate"]' >x.pem
ocsp3() {
	openssl ocsp -issuer "$C/ca.pem" -cert x.pem -url "$(pub 3)/ocsp" -CAfile chain.pem "$@" \
		>ocsp.out 2>&1
	grep -q "Response verify OK" ocsp.out && grep -o 'x.pem: [a-z]*' ocsp.out | cut -d' ' -f2
}
[ "$(ocsp3 -no_nonce)" = good ] && [ "$(ocsp3 -no_nonce)" = good ] &&
	t_ok "node 3: good, and pre-signed" || t_fail "node 3: good, and pre-signed" "$(cat ocsp.out | head -n 5)"
s=$(adm_req 1 rev "/api/v1/certificates/$SER/revoke" -X POST -d '{"reason":"keyCompromise"}')
t_expect "revoke through node 1" 200 "$s"
[ "$(ocsp3 -no_nonce)" = revoked ] && t_ok "node 3's next answer is revoked (no stale pre-signed good)" ||
	t_fail "node 3's next answer is revoked" "$(head -n 8 ocsp.out | tr '\n' ' ')"
[ "$(ocsp3)" = revoked ] && t_ok "node 3 with a nonce: revoked" || t_fail "node 3 with a nonce: revoked" "$(head -n 5 ocsp.out)"
aud3() {
	curl -s --max-time 20 -o aud.body -w '%{http_code}' --cacert "$C/root.pem" \
		--cert "$AUD.pem" --key "$AUD.key" "$(adm 3)/api/v1/audit?limit=1" 2>/dev/null
}
t_expect "node 3 lets the auditor in" 200 "$(aud3)"
ASER=$(t_serial "$AUD.pem")
s=$(adm_req 1 arev "/api/v1/certificates/$ASER/revoke" -X POST -d '{"reason":"affiliationChanged"}')
t_expect "revoke the auditor's certificate through node 1" 200 "$s"
t_expect "node 3 refuses the revoked auditor's next request" 401 "$(aud3)"

# --- the CRL lease moves when its holder dies ------------------------------
# The lease's holder is a process, "<node>/<run id>"; holder names its node.
holder() { sql "SELECT split_part(holder, '/', 1) FROM leases WHERE name = 'crl'"; }
lease() { sql "SELECT holder || ' ' || taken_ms FROM leases WHERE name = 'crl'"; }
H=$(holder)
case $H in n1|n2|n3) t_ok "one node holds the CRL lease ($H)" ;; *) t_fail "one node holds the CRL lease" "holder '$H'" ;; esac
HI=${H#n}
# Two nodes other than the holder.
O1=$(( HI % 3 + 1 ))
O2=$(( O1 % 3 + 1 ))
# crl_has NODE SERIAL: NODE serves a CRL listing SERIAL.
crl_has() {
	curl -s --max-time 10 -o "crl$1.der" "$(pub "$1")/crl/ca.crl" 2>/dev/null &&
		openssl crl -inform DER -in "crl$1.der" -noout -text 2>/dev/null |
		grep -qi "Serial Number: 0*$2\$"
}
for _ in $(seq 1 30); do crl_has "$O2" "$SER" && break; sleep 1; done
crl_has "$O2" "$SER" && t_ok "node $O2 (not the holder) serves the holder's CRL listing the revocation" ||
	t_fail "node $O2 serves the holder's CRL" "$(ls -la "${DIR[$O2]}/crl" 2>&1 | tr '\n' ' ')"
kill -KILL "${PID[$HI]}" 2>/dev/null
wait "${PID[$HI]}" 2>/dev/null
for _ in $(seq 1 40); do [ "$(holder)" != "$H" ] && break; sleep 1; done
H2=$(holder)
[ "$H2" != "$H" ] && [ -n "$H2" ] && t_ok "the lease moved from $H (killed) to $H2" ||
	t_fail "the lease moved from $H (killed)" "holder still '$H2'"
n=$(sql "SELECT count(*) FROM audit WHERE op = 'crl.lease' AND details::json->>'from' LIKE '$H/%' AND details::json->>'node' = '$H2'")
[ "$n" = 1 ] && t_ok "the take-over is audited" || t_fail "the take-over is audited" "$n records"
SER2=$(sed -n 2p issued.txt)
s=$(adm_req "$O1" rev2 "/api/v1/certificates/$SER2/revoke" -X POST -d '{"reason":"superseded"}')
t_expect "another revocation (node $O1)" 200 "$s"
H2I=${H2#n}
OTHER=$O1
[ "$OTHER" = "$H2I" ] && OTHER=$O2
for _ in $(seq 1 30); do crl_has "$OTHER" "$SER2" && break; sleep 1; done
crl_has "$OTHER" "$SER2" && t_ok "the new holder's CRL lists it, served by node $OTHER too" ||
	t_fail "the new holder's CRL lists it, served by node $OTHER" "no"
if start_node "$HI"; then
	for _ in $(seq 1 10); do crl_has "$HI" "$SER2" && break; sleep 1; done
	crl_has "$HI" "$SER2" && t_ok "node $HI, restarted, serves the current CRL" ||
		t_fail "node $HI, restarted, serves the current CRL" "no"
else
	t_fail "node $HI restarts" "$(tail -n 3 "$T_TMP/n$HI.err" | tr '\n' ' ')"
fi

# --- no node without the lease makes a CRL ---------------------------------
# An attack on the schedule: the lease handed to a holder that is no node.
# A revocation is then due on the CRL (crl.delay_s=1), and no node may
# make it; once the lease is free again a node takes it (audited) and does.
crlnum() { sql "SELECT value FROM meta WHERE key = 'crl.ca.number'"; }
crlrec() { sql "SELECT count(*) FROM audit WHERE op = 'crl.issue'"; }
FAR=$(( ($(date +%s) + 600) * 1000 ))
sql "UPDATE leases SET holder = 'intruder', expires_ms = $FAR, taken_ms = 0 WHERE name = 'crl'" >/dev/null
N0=$(crlnum)
R0=$(crlrec)
SER3=$(sed -n 3p issued.txt)
s=$(adm_req 1 rev3 "/api/v1/certificates/$SER3/revoke" -X POST -d '{"reason":"cessationOfOperation"}')
t_expect "a revocation while the intruder holds the lease" 200 "$s"
for _ in $(seq 1 20); do grep -q "lost it to intruder" "$T_TMP/n$H2I.err" && break; sleep 0.5; done
grep -q "lost it to intruder" "$T_TMP/n$H2I.err" && t_ok "node $H2I notices it lost the lease" ||
	t_fail "node $H2I notices it lost the lease" "$(grep 'CRL lease' "$T_TMP/n$H2I.err" | tail -n 2)"
sleep 4 # crl.delay_s (1 s) and three schedule ticks past the revocation
[ -n "$N0" ] && [ "$(crlnum)" = "$N0" ] && [ "$(crlrec)" = "$R0" ] &&
	t_ok "no node makes a CRL without the lease (number $N0)" ||
	t_fail "no node makes a CRL without the lease" "number $N0 -> $(crlnum), records $R0 -> $(crlrec)"
crl_has "$OTHER" "$SER3" && t_fail "no CRL lists the revocation yet" "node $OTHER serves one" ||
	t_ok "no CRL lists the revocation yet"
sql "UPDATE leases SET expires_ms = 0 WHERE name = 'crl'" >/dev/null
for _ in $(seq 1 20); do [ "$(holder)" != intruder ] && break; sleep 0.5; done
H3=$(holder)
H3I=${H3#n}
n=$(sql "SELECT count(*) FROM audit WHERE op = 'crl.lease' AND details::json->>'from' = 'intruder' AND details::json->>'node' = '$H3'")
case $H3 in n1|n2|n3) [ "$n" = 1 ] ;; *) false ;; esac &&
	t_ok "once free, node ${H3#n} takes the lease (audited)" || t_fail "once free, a node takes the lease" "holder '$H3', $n records"
for _ in $(seq 1 30); do crl_has "$OTHER" "$SER3" && break; sleep 1; done
crl_has "$OTHER" "$SER3" && t_ok "and its CRL lists the revocation, served by node $OTHER" ||
	t_fail "its CRL lists the revocation, served by node $OTHER" "no"

# --- a CRL made but never published ----------------------------------------
# Its maker died between committing it and copying it into the store (here
# the copy is taken away): the nodes would serve the CRL before it. The
# holder makes another once the maker's time to publish has passed.
N1=$(crlnum)
n=$(sql "WITH d AS (DELETE FROM published WHERE name = 'ca' RETURNING 1) SELECT count(*) FROM d")
[ "${n:-0}" -ge 1 ] && t_ok "CRL $N1 is committed but its published copy is gone ($n parts)" ||
	t_fail "the published copy of CRL $N1 is taken away" "$n parts"
pubnum() { sql "SELECT coalesce(max(number), 0) FROM published WHERE name = 'ca'"; }
for _ in $(seq 1 40); do [ "$(pubnum)" -gt "${N1:-0}" ] 2>/dev/null && break; sleep 0.5; done
P1=$(pubnum)
[ -n "$N1" ] && [ "$P1" -gt "$N1" ] && [ "$(crlnum)" = "$P1" ] &&
	grep -q "made but not published" "$T_TMP/n$H3I.err" &&
	t_ok "the holder makes CRL $P1 in its place and publishes it" ||
	t_fail "the holder makes another CRL in its place" "committed $N1 -> $(crlnum), published $P1; $(grep 'CRL ca' "$T_TMP/n$H3I.err" | tail -n 2)"

# --- a second process with the holder's node name ---------------------------
# A node name is one process's (its lease, "node/NAME"): a copy of the
# holder's node started with its --node by mistake (or two nodes on one
# host both named after it) is refused at start, once it has waited out
# the lease a dead run would have left, and the refusal is audited; the
# CRL lease stays with the process that holds it.
DIR[4]=$T_TMP/node4
cp -a "$T_TMP/inst" "${DIR[4]}"
PUBP[4]=$(t_free_port)
ADMP[4]=$(t_free_port)
L0=$(lease)
NL0=$(sql "SELECT holder FROM leases WHERE name = 'node/$H3'")
t_bg env GOVPKI_TEST_CLOCK=ok "$GOVPKI" serve --dir "${DIR[4]}" --node "$H3" \
	--http "127.0.0.1:${PUBP[4]}" --https "127.0.0.1:${ADMP[4]}" --quiet \
	>>"$T_TMP/n4.out" 2>>"$T_TMP/n4.err"
PID[4]=$T_LAST_PID
t_wait_exit "${PID[4]}" 300; rc=$?
if [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q "another process ($NL0) serves as this node" "$T_TMP/n4.err"; then
	t_ok "a second process named $H3 is refused at start, naming the live one ($NL0)"
else
	t_fail "a second process named $H3 is refused at start" "exit $rc: $(tail -n 2 "$T_TMP/n4.err" | tr '\n' ' ')"
	[ "$rc" = 124 ] && t_stop "${PID[4]}"
fi
n=$(sql "SELECT count(*) FROM audit WHERE op = 'node.lease' AND outcome = 'denied' AND object = '$H3' AND details::json->>'held_by' = '$NL0'")
[ "$n" = 1 ] && t_ok "the refusal is audited (node.lease, denied)" || t_fail "the refusal is audited" "$n records"
[ "$(lease)" = "$L0" ] && [ "$(sql "SELECT holder FROM leases WHERE name = 'node/$H3'")" = "$NL0" ] &&
	t_ok "the CRL lease and the name stay with the running $H3" ||
	t_fail "the CRL lease and the name stay with the running $H3" "$L0 -> $(lease)"

# --- the database goes away and comes back ----------------------------------
bash "$T_LIB_DIR/pg.sh" down "$PG_DIR"
health1() { curl -s --max-time 10 -o health.body -w '%{http_code}' "$(pub 1)/healthz" 2>/dev/null; }
for _ in $(seq 1 20); do [ "$(health1)" = 503 ] && break; sleep 0.5; done
[ "$(health1)" = 503 ] && grep -q '"store": *"fail"' health.body &&
	t_ok "without its database node 1 answers 503 on /healthz" ||
	t_fail "without its database node 1 answers 503" "$(cat health.body)"
s=$(adm_req 1 down_issue /api/v1/certificates -X POST --data-binary @load.json)
[ "$s" = 503 ] && grep -q "database is unreachable" down_issue.body &&
	t_ok "without its database node 1 refuses issuance (503, the database is unreachable)" ||
	t_fail "without its database node 1 refuses issuance" "status $s: $(head -c 300 down_issue.body)"
s=$(adm_req 1 down_rev "/api/v1/certificates/$(sed -n 4p issued.txt)/revoke" -X POST -d '{"reason":"superseded"}')
[ "$s" = 503 ] && grep -q "database is unreachable" down_rev.body &&
	t_ok "and revocation (503)" || t_fail "and revocation" "status $s: $(head -c 300 down_rev.body)"
s=$(curl -s --max-time 20 -o down.tsr -w '%{http_code}' -H 'Content-Type: application/timestamp-query' \
	--data-binary @q.tsq "$(pub 1)/tsa" 2>/dev/null)
openssl ts -reply -in down.tsr -text 2>/dev/null | grep -q 'Status: Granted' &&
	t_fail "without its database node 1 gives no time-stamp" "granted" ||
	t_ok "without its database node 1 gives no time-stamp ($s)"
bash "$T_LIB_DIR/pg.sh" up "$PG_DIR"
for _ in $(seq 1 60); do [ "$(health1)" = 200 ] && break; sleep 0.5; done
t_expect "the database back, node 1 is healthy again" 200 "$(health1)"
s=$(adm_req 1 up_issue /api/v1/certificates -X POST --data-binary @load.json)
t_expect "and issues again" 201 "$s"
t_check "audit verify passes at the end" "$GOVPKI" audit verify --dir "${DIR[1]}"
# A node stopped in order hands its name back at once: its successor need
# not wait for the lease to expire.
t_stop "${PID[1]}"
n=$(sql "SELECT count(*) FROM leases WHERE name = 'node/n1' AND holder LIKE 'n1/%' AND expires_ms <= (extract(epoch FROM now()) * 1000)::bigint")
[ "$n" = 1 ] && t_ok "node 1, stopped (SIGTERM), has released its name's lease" ||
	t_fail "node 1, stopped, has released its name's lease" "$(sql "SELECT holder, expires_ms FROM leases WHERE name = 'node/n1'")"
t_done nodes
