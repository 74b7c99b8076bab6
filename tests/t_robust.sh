#!/usr/bin/env bash
# t_robust.sh: one client must not take the server down. A fresh instance
# on free 127.0.0.1 ports, with a global connection limit of 1000 per
# listener, a 3 s request deadline, a 2 s shutdown grace and an OCSP nonce
# rate of 1 a second (burst 2); then, as attacks that must fail:
#   - one address (127.0.0.2) opens 1,000 sockets and holds them: the
#     server keeps at most limits.max_connections_per_ip of them and
#     /healthz answers another address;
#   - a client trickles its headers a byte at a time (which an idle
#     timeout never ends): it is cut off at the deadline while /healthz
#     answers;
#   - conflicting Content-Length (and Transfer-Encoding with
#     Content-Length) get 400 JSON and the connection closed, so the bytes
#     after a short body are never read as a second, smuggled request;
#   - 300 malformed OCSP and 300 malformed TSA requests from one address
#     leave at most two aggregated "http.refused" records, with the counts;
#   - nonce OCSP requests over the rate get a signed answer without the
#     nonce (openssl ocsp: "WARNING: no nonce in response");
#   - SIGTERM while the audit writer is blocked (the test hook
#     GOVPKI_TEST_AUDIT_STALL holds it inside a transaction while a file
#     exists) and a periodic checkpoint waits for it (audit.checkpoint_s
#     is 1): SIGTERM is acted on at once, and with replies held for the
#     writer, after the grace the held clients are disconnected without
#     a reply, and once the writer is unblocked
#     the server exits 0 with a log that verifies (run this script with the
#     ASan build too: GOVPKI=build-asan/govpki);
#   - a connection limit the open-files limit cannot hold is lowered to
#     what fits, and said.
. "$(dirname "$0")/lib.sh"

D=$T_TMP/inst
P1=$(t_free_port)
P2=$(t_free_port)
PUB=http://127.0.0.1:$P1
PER_IP=32

if [ ! -x "$GOVPKI" ]; then
	t_fail "binary" "$GOVPKI not built"
t_done robust
	exit 1
fi
if ! "$GOVPKI" init --dir "$D" >"$T_TMP/init.out" 2>&1; then
	t_fail "init" "$(tail -n 3 "$T_TMP/init.out" | tr '\n' ' ')"
t_done robust
	exit 1
fi
t_ok "init"
t_setcfg "$D/govpki.json" limits.max_connections=1000 \
	limits.max_connections_per_ip=$PER_IP limits.request_deadline_s=3 \
	limits.request_timeout_s=30 limits.shutdown_grace_s=2 \
	limits.ocsp_nonce_per_s=1 limits.ocsp_nonce_burst=2
# A checkpoint every second: one is sure to be waiting for the store while
# the test hook holds the audit writer, when SIGTERM comes.
t_setcfg "$D/govpki.json" audit.checkpoint_s=1

STALL=$T_TMP/stall
t_bg env GOVPKI_TEST_AUDIT_STALL="$STALL" "$GOVPKI" serve --dir "$D" \
	--http "127.0.0.1:$P1" --https "127.0.0.1:$P2" --quiet 2>"$T_TMP/serve.err"
SERVE=$T_LAST_PID
if ! t_wait_http "$PUB/healthz" 30; then
	t_fail "serve starts" "$(tail -n 5 "$T_TMP/serve.err" | tr '\n' ' ')"
t_done robust
	exit 1
fi
t_ok "serve starts"

# healthz NAME: /healthz from 127.0.0.1 within 10 s; prints "answered"
# when it gave its JSON (200, or 503 when the machine's clock makes the
# TSA refuse), else the HTTP status ("000": no answer).
healthz() {
	local s
	s=$(curl -s --max-time 10 -o "$T_TMP/$1.body" -w '%{http_code}' "$PUB/healthz")
	case $s in
	200|503) grep -q '"status"' "$T_TMP/$1.body" && s=answered ;;
	esac
	echo "$s"
}

# --- 1,000 sockets from one address -------------------------------------
cat >"$T_TMP/hold.py" <<'EOF'
# hold.py PORT N SOURCE READY_FILE SECONDS KEEP: opens N connections from
# SOURCE, waits (10 s at most) until the server has closed all but KEEP of
# them, writes "connected open" to READY_FILE, then holds them until
# READY_FILE is removed or SECONDS pass.
import errno, os, select, socket, sys, time
port, n, src, ready, secs = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])
keep = int(sys.argv[6])
end = time.monotonic() + secs
socks = []
for _ in range(n):
    s = socket.socket()
    s.setblocking(False)
    s.bind((src, 0))
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    socks.append(s)
p = select.poll()
for s in socks:
    p.register(s, select.POLLOUT)
pending = {s.fileno() for s in socks}
t = time.monotonic() + 10
while pending and time.monotonic() < t:
    for fd, ev in p.poll(200):
        if fd in pending:
            pending.discard(fd)
            p.unregister(fd)
connected = [s for s in socks if s.fileno() not in pending and
             s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0]
def still_open():
    k = 0
    for s in connected:
        try:
            if s.recv(1, socket.MSG_PEEK) == b"":
                continue  # closed by the server
        except BlockingIOError:
            k += 1
        except OSError:
            pass
    return k
t = time.monotonic() + 10
while True:
    time.sleep(0.5)
    open_ = still_open()
    if open_ <= keep or time.monotonic() > t:
        break
with open(ready + ".tmp", "w") as f:
    f.write("%d %d\n" % (len(connected), open_))
os.rename(ready + ".tmp", ready)
while os.path.exists(ready) and time.monotonic() < end:
    time.sleep(0.1)
for s in socks:
    s.close()
EOF
HARD=$(ulimit -Hn)
if [ "$HARD" != unlimited ] && [ "$HARD" -lt 1100 ]; then
	t_fail "1000 sockets" "the hard limit on open files is $HARD; 1,100 are needed"
else
	(ulimit -Sn 4096 2>/dev/null || ulimit -Sn "$HARD"
	 exec python3 "$T_TMP/hold.py" "$P1" 1000 127.0.0.2 "$T_TMP/held" 60 $PER_IP) &
	HOLDER=$!
	T_PIDS="$T_PIDS $HOLDER"
	for _ in $(seq 1 400); do [ -f "$T_TMP/held" ] && break; sleep 0.1; done
	read -r CONNECTED OPEN <"$T_TMP/held" 2>/dev/null
	s=$(healthz held_healthz)
	[ "$s" = answered ] && t_ok "/healthz answers while 127.0.0.2 holds 1000 sockets" ||
		t_fail "/healthz answers while 127.0.0.2 holds 1000 sockets" "status $s"
	[ "${CONNECTED:-0}" -ge 1000 ] && [ "${OPEN:-9999}" -le $PER_IP ] &&
		t_ok "the server keeps at most $PER_IP of them (connected ${CONNECTED:-?}, open ${OPEN:-?})" ||
		t_fail "the server keeps at most $PER_IP of them" "connected ${CONNECTED:-?}, open ${OPEN:-?}"
	rm -f "$T_TMP/held"
	wait "$HOLDER" 2>/dev/null
	N=$(grep -c "reached connection limit" "$T_TMP/serve.err")
	[ "$N" -le 2 ] && t_ok "refused connections do not flood the log ($N lines)" ||
		t_fail "refused connections do not flood the log" "$N lines"
fi

# --- trickled headers ------------------------------------------------------
cat >"$T_TMP/trickle.py" <<'EOF'
# trickle.py PORT SOURCE SECONDS: sends a request's headers one byte every
# 0.3 s; prints "cut S" when the server closes the connection after S
# seconds, "open" if it is still open after SECONDS.
import socket, sys, time
s = socket.socket()
s.bind((sys.argv[2], 0))
s.connect(("127.0.0.1", int(sys.argv[1])))
s.settimeout(0.3)
start = time.monotonic()
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
while time.monotonic() - start < float(sys.argv[3]):
    try:
        s.sendall(b"a")
        if s.recv(100) == b"":
            break
        print("answered")
        sys.exit(0)
    except socket.timeout:
        continue
    except OSError:
        break
else:
    print("open")
    sys.exit(0)
print("cut %.1f" % (time.monotonic() - start))
EOF
python3 "$T_TMP/trickle.py" "$P1" 127.0.0.2 20 >"$T_TMP/trickle.out" 2>&1 &
TRICKLE=$!
sleep 1
s=$(healthz trickle_healthz)
[ "$s" = answered ] && t_ok "/healthz answers while a client trickles its headers" ||
	t_fail "/healthz answers while a client trickles its headers" "status $s"
wait "$TRICKLE"
grep -q '^cut' "$T_TMP/trickle.out" &&
	grep -q "connection from 127.0.0.2 cut off" "$T_TMP/serve.err" &&
	t_ok "trickled headers cut off at the deadline ($(cat "$T_TMP/trickle.out"))" ||
	t_fail "trickled headers cut off at the deadline" "$(cat "$T_TMP/trickle.out")"

# --- message framing ---------------------------------------------------
cat >"$T_TMP/raw.py" <<'EOF'
# raw.py PORT: sends stdin as is and prints what comes back until the
# server closes (10 s at most).
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(sys.stdin.buffer.read())
out = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
except socket.timeout:
    out += b"\n<timeout>"
sys.stdout.buffer.write(out)
EOF
# A 5-byte body by the first Content-Length, followed by a request that
# only a server reading the first would take as a second one.
printf 'POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\nContent-Length: 5\r\nContent-Length: 44\r\n\r\nhelloGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n' |
	python3 "$T_TMP/raw.py" "$P1" >"$T_TMP/cl.out"
if head -n 1 "$T_TMP/cl.out" | grep -q '^HTTP/1.1 400' &&
	[ "$(grep -c '^HTTP/1' "$T_TMP/cl.out")" = 1 ] &&
	grep -qi '^connection: close' "$T_TMP/cl.out" &&
	grep -q '{"error":{"code":"invalid","message":"[^"]*Content-Length' "$T_TMP/cl.out"; then
	t_ok "conflicting Content-Length: 400 JSON, closed, nothing smuggled"
else
	t_fail "conflicting Content-Length: 400 JSON, closed, nothing smuggled" "$(tr '\r\n' '  ' <"$T_TMP/cl.out" | head -c 400)"
fi
printf 'POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' |
	python3 "$T_TMP/raw.py" "$P1" >"$T_TMP/te.out"
head -n 1 "$T_TMP/te.out" | grep -q '^HTTP/1.1 400' &&
	grep -q '"code":"invalid"' "$T_TMP/te.out" &&
	t_ok "Transfer-Encoding with Content-Length: 400 JSON" ||
	t_fail "Transfer-Encoding with Content-Length: 400 JSON" "$(tr '\r\n' '  ' <"$T_TMP/te.out" | head -c 300)"
printf 'POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\nContent-Type: application/ocsp-request\r\nConnection: close\r\n\r\nhello' |
	python3 "$T_TMP/raw.py" "$P1" >"$T_TMP/cl2.out"
head -n 1 "$T_TMP/cl2.out" | grep -q '^HTTP/1.1 200' &&
	t_ok "a repeated equal Content-Length frames one body (RFC 7230 3.3.2)" ||
	t_fail "a repeated equal Content-Length frames one body" "$(head -n 1 "$T_TMP/cl2.out")"

# --- a flood of malformed OCSP and TSA requests ---------------------------
cat >"$T_TMP/flood.py" <<'EOF'
# flood.py PORT SOURCE N: N malformed OCSP and N malformed TSA requests on
# one connection; prints how many got malformedRequest and a TSA rejection.
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10,
                               source_address=(sys.argv[2], 0))
ocsp = tsa = 0
for i in range(int(sys.argv[3])):
    c.request("POST", "/ocsp", body=b"\x30\x03junk%d" % i,
              headers={"Content-Type": "application/ocsp-request"})
    r = c.getresponse()
    # OCSPResponse { responseStatus malformedRequest (1) }
    ocsp += r.status == 200 and r.read() == bytes.fromhex("30030a0101")
    c.request("POST", "/tsa", body=b"not DER %d" % i,
              headers={"Content-Type": "application/timestamp-query"})
    r = c.getresponse()
    tsa += r.status == 200 and len(r.read()) > 0
print(ocsp, tsa)
EOF
read -r NO NT <<<"$(python3 "$T_TMP/flood.py" "$P1" 127.0.0.3 300 2>&1)"
[ "$NO" = 300 ] && [ "$NT" = 300 ] && t_ok "flood: 300 malformedRequest, 300 TSA rejections" ||
	t_fail "flood: 300 malformedRequest, 300 TSA rejections" "$NO $NT"

# --- OCSP nonce over the rate ----------------------------------------------
C=$D/certs
OFFICER=$D/admin/officer.pem
openssl ocsp -issuer "$C/ca.pem" -cert "$OFFICER" -reqout "$T_TMP/nreq.der" \
	>/dev/null 2>&1
cat >"$T_TMP/burst.py" <<'EOF'
# burst.py PORT SOURCE REQ N OUT: POSTs the OCSP request REQ N times at
# once, keeping each answer as OUT.<i>.
import http.client, sys
req = open(sys.argv[3], "rb").read()
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10,
                               source_address=(sys.argv[2], 0))
for i in range(int(sys.argv[4])):
    c.request("POST", "/ocsp", body=req,
              headers={"Content-Type": "application/ocsp-request"})
    open("%s.%d" % (sys.argv[5], i), "wb").write(c.getresponse().read())
EOF
python3 "$T_TMP/burst.py" "$P1" 127.0.0.1 "$T_TMP/nreq.der" 8 "$T_TMP/nresp"
# At once, while the bucket is empty (it refills one a second, so of three
# tries at most one can find a token).
for _ in 1 2 3; do
	openssl ocsp -issuer "$C/ca.pem" -cert "$OFFICER" -url "$PUB/ocsp" \
		-CAfile "$C/chain.pem" >"$T_TMP/live.txt" 2>&1
	grep -q "WARNING: no nonce in response" "$T_TMP/live.txt" && break
done
WITH=0
WITHOUT=0
for i in 0 1 2 3 4 5 6 7; do
	# The request's own nonce is checked against the answer's (with
	# -cert, openssl would build a new request with another nonce).
	openssl ocsp -reqin "$T_TMP/nreq.der" -respin "$T_TMP/nresp.$i" \
		-CAfile "$C/chain.pem" -no_nonce -resp_text \
		>"$T_TMP/nresp.$i.txt" 2>&1
	grep -q "Response verify OK" "$T_TMP/nresp.$i.txt" &&
		grep -q "Cert Status: good" "$T_TMP/nresp.$i.txt" || continue
	if grep -q "WARNING: no nonce in response" "$T_TMP/nresp.$i.txt"; then
		WITHOUT=$((WITHOUT + 1))
	else
		WITH=$((WITH + 1))
	fi
done
# Burst 2 plus at most a token or two refilled while they run.
[ "$WITH" -ge 2 ] && [ "$WITH" -le 4 ] && [ $((WITH + WITHOUT)) = 8 ] &&
	t_ok "nonce answers over the rate come without the nonce ($WITH with, $WITHOUT without, all verified)" ||
	t_fail "nonce answers over the rate come without the nonce" "$WITH with, $WITHOUT without: $(head -n 3 "$T_TMP/nresp.7.txt" | tr '\n' ' ')"
grep -q "WARNING: no nonce in response" "$T_TMP/live.txt" &&
	grep -q "Response verify OK" "$T_TMP/live.txt" &&
	t_ok "openssl ocsp over the rate: WARNING: no nonce in response, verify OK" ||
	t_fail "openssl ocsp over the rate: no nonce" "$(tr '\n' ' ' <"$T_TMP/live.txt")"
python3 "$T_TMP/burst.py" "$P1" 127.0.0.4 "$T_TMP/nreq.der" 1 "$T_TMP/other"
openssl ocsp -reqin "$T_TMP/nreq.der" -respin "$T_TMP/other.0" \
	-CAfile "$C/chain.pem" -no_nonce -resp_text >"$T_TMP/other.txt" 2>&1
grep -q "Response verify OK" "$T_TMP/other.txt" &&
	grep -q "OCSP Nonce" "$T_TMP/other.txt" &&
	! grep -qi "no nonce\|nonce verify error" "$T_TMP/other.txt" &&
	t_ok "another address still gets its nonce" ||
	t_fail "another address still gets its nonce" "$(tr '\n' ' ' <"$T_TMP/other.txt")"

# --- SIGTERM with the audit writer blocked ----------------------------
cat >"$T_TMP/held.py" <<'EOF'
# held.py PORT SOURCE REQ: one nonce OCSP request (a signature, so its
# reply waits for the audit record); prints "sent" once it is sent, then
# "reply STATUS", "closed" (without a reply) or "no answer" (after 60 s).
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60,
                               source_address=(sys.argv[2], 0))
c.request("POST", "/ocsp", body=open(sys.argv[3], "rb").read(),
          headers={"Content-Type": "application/ocsp-request"})
print("sent", flush=True)
try:
    r = c.getresponse()
    r.read()
    print("reply", r.status)
except (http.client.RemoteDisconnected, ConnectionResetError):
    print("closed")
except TimeoutError:
    print("no answer")
EOF
grep -q "TEST HOOK GOVPKI_TEST_AUDIT_STALL=$STALL IS SET" "$T_TMP/serve.err" &&
	t_ok "the test hook is announced at start" ||
	t_fail "the test hook is announced at start" "no warning"
touch "$STALL"
for _ in $(seq 1 100); do
	grep -q "the audit writer is held while" "$T_TMP/serve.err" && break
	sleep 0.1
done
HPIDS=""
for i in 5 6 7; do
	python3 "$T_TMP/held.py" "$P1" "127.0.0.$i" "$T_TMP/nreq.der" \
		>"$T_TMP/held.$i" 2>&1 &
	HPIDS="$HPIDS $!"
done
# Sent, then a second for the server to sign and hold them.
for _ in $(seq 1 100); do
	[ "$(cat "$T_TMP"/held.[567] 2>/dev/null | grep -c '^sent$')" = 3 ] && break
	sleep 0.1
done
sleep 1
kill -TERM "$SERVE"
# SIGTERM is acted on at once, although a periodic checkpoint waits for
# the blocked writer: the checkpoints have a thread of their own.
for _ in $(seq 1 200); do
	grep -q "SIGTERM received; draining" "$T_TMP/serve.err" && break
	sleep 0.1
done
grep -q "SIGTERM received; draining" "$T_TMP/serve.err" && [ -e "$STALL" ] &&
	t_ok "SIGTERM is acted on while a checkpoint waits for the blocked writer" ||
	t_fail "SIGTERM is acted on while a checkpoint waits for the blocked writer" \
		"no \"draining\" in 20 s: $(tail -n 3 "$T_TMP/serve.err" | tr '\n' ' ')"
# The clients end without a reply although the writer is still blocked:
# within the grace plus the time the main loop may wait for the store.
for p in $HPIDS; do
	for _ in $(seq 1 400); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
done
CLOSED=$(cat "$T_TMP"/held.[567] | grep -c '^closed$')
NDROPPED=$(grep -c "closing the connection without it" "$T_TMP/serve.err")
ALIVE=no
kill -0 "$SERVE" 2>/dev/null && ALIVE=yes
[ "$CLOSED" = 3 ] && [ "$ALIVE" = yes ] &&
	t_ok "held replies: connections closed without a reply while the writer is blocked" ||
	t_fail "held replies: connections closed without a reply while the writer is blocked" \
		"$(cat "$T_TMP"/held.[567] | tr '\n' ' ') server running: $ALIVE"
[ "$NDROPPED" = 3 ] && t_ok "the dropped replies are logged" ||
	t_fail "the dropped replies are logged" "$NDROPPED log lines"
rm -f "$STALL"
t_wait_exit "$SERVE" 900; rc=$?
[ "$rc" = 0 ] && t_ok "once the writer is unblocked the server exits 0" ||
	t_fail "once the writer is unblocked the server exits 0" "exit $rc: $(tail -n 3 "$T_TMP/serve.err" | tr '\n' ' ')"
if grep -Eq "AddressSanitizer|runtime error|LeakSanitizer" "$T_TMP/serve.err"; then
	t_fail "no sanitizer report" "$(grep -E -m 3 "AddressSanitizer|runtime error|SUMMARY" "$T_TMP/serve.err" | tr '\n' ' ')"
else
	t_ok "no sanitizer report"
fi
t_check "audit verify after stop" "$GOVPKI" audit verify --dir "$D"

# --- the aggregated records ----------------------------------------------
sql() { t_sql "$D" "$1"; }
# refused ADDR EXPR: EXPR over the details of ADDR's aggregated records (js).
refused() { t_sqljs "$D" "SELECT details FROM audit WHERE op='http.refused' AND client='$1'" "$2"; }
read -r NREC SO ST <<<"$(refused 127.0.0.3 '" ".join(str(n) for n in (len(js),
	sum(j["kinds"].get("ocsp.malformedRequest", 0) for j in js),
	sum(j["kinds"].get("tsa.badDataFormat", 0) for j in js)))')"
NREJ=$(sql "SELECT count(*) FROM audit WHERE client='127.0.0.3' AND op<>'http.refused'")
[ "${NREC:-0}" -ge 1 ] && [ "${NREC:-9}" -le 2 ] && [ "$SO" = 300 ] && [ "$ST" = 300 ] &&
	[ "$NREJ" = 0 ] &&
	t_ok "600 malformed requests: $NREC aggregated record(s), counts 300 + 300, nothing else" ||
	t_fail "600 malformed requests: at most 2 aggregated records with the counts" \
		"$NREC records, ocsp $SO, tsa $ST, $NREJ other records"
NTOT=$(refused 127.0.0.3 'sum(j["count"] for j in js)')
[ "$NTOT" = 600 ] && t_ok "the aggregated count is 600" ||
	t_fail "the aggregated count is 600" "$NTOT"
NDL=$(refused 127.0.0.2 'sum(j["kinds"].get("http.deadline", 0) for j in js)')
[ "${NDL:-0}" -ge 1 ] && t_ok "the cut-off is in the aggregated record ($NDL)" ||
	t_fail "the cut-off is in the aggregated record" "$NDL"
NDROP=$(t_sqljs "$D" "SELECT details FROM audit WHERE op='ocsp.sign'" 'sum(j.get("nonce_dropped") == 1 for j in js)')
[ "${NDROP:-0}" -ge 1 ] && t_ok "a signature made without the dropped nonce says so ($NDROP)" ||
	t_fail "a signature made without the dropped nonce says so" "$NDROP"
RMAX=$(sql "SELECT max(seq) FROM audit WHERE op='http.refused'")
SSTOP=$(sql "SELECT max(seq) FROM audit WHERE op='server.stop'")
[ -n "$RMAX" ] && [ -n "$SSTOP" ] && [ "$RMAX" -lt "$SSTOP" ] &&
	t_ok "refusals flushed before server.stop" ||
	t_fail "refusals flushed before server.stop" "last http.refused $RMAX, server.stop $SSTOP"

# --- the connection limit fits the open-files limit ------------------------
# 1000 connections per listener need about 2,256 descriptors; with 600 the
# server says so and takes what fits, rather than running out of
# descriptors for the store and the token under load.
P3=$(t_free_port)
(ulimit -Sn 600 && ulimit -Hn 600 && exec "$GOVPKI" serve --dir "$D" \
	--http "127.0.0.1:$P3" --https "127.0.0.1:$(t_free_port)" --quiet) \
	2>"$T_TMP/serve2.err" &
SERVE2=$!
T_PIDS="$T_PIDS $SERVE2"
if t_wait_http "http://127.0.0.1:$P3/healthz" 30 &&
	grep -q "limits.max_connections 1000 per listener needs about 2256 open files, but the limit is 600: 172 connections" "$T_TMP/serve2.err"; then
	t_ok "a connection limit over the open-files limit is lowered and said"
else
	t_fail "a connection limit over the open-files limit is lowered and said" \
		"$(grep -i "open files" "$T_TMP/serve2.err" | head -n 2 | tr '\n' ' ')"
fi
kill -TERM "$SERVE2" 2>/dev/null
wait "$SERVE2" 2>/dev/null

t_done robust
