# t_docs.sh: every example of docs/api.md runs as written. Each ```sh
# block's commands (lines starting with "$ ", continued while a line ends
# with "\" or a single quote is open) run in order in one shell, from a
# directory holding an instance `var` served on free loopback ports: only
# the listeners' host:port (127.0.0.1:8080 and 127.0.0.1:8443) is
# replaced. Each command must exit 0, and what the doc shows under it must
# be what it prints, in substance: a JSON answer has every key the doc
# names and the same word values (status, profile, true, null ...); a text
# line is in the output ("..." stands for anything, as does a count at the
# end of a line); a bare status code is the last line.
# DOC=FILE checks another copy of the page (to see this test fail).
. "$(dirname "$0")/lib.sh"
DOC=${DOC:-$(cd "$(dirname "$0")/.." && pwd)/docs/api.md}
cd "$T_TMP" || exit 1

p1=$(t_free_port)
p2=$(t_free_port)
if ! "$GOVPKI" init --dir var >init.out 2>&1; then
	t_fail "init var" "$(tail -n 3 init.out | tr '\n' ' ')"; t_done t_docs; exit 1
fi
GOVPKI_TEST_CLOCK=ok t_bg "$GOVPKI" serve --dir var --http "127.0.0.1:$p1" \
	--https "127.0.0.1:$p2" --quiet >serve.out 2>serve.err
if ! t_wait_http "http://127.0.0.1:$p1/healthz" 30; then
	t_fail "serve var" "$(tail -n 5 serve.err | tr '\n' ' ')"; t_done t_docs; exit 1
fi
# Served: the first CRLs are made within a second of the start.
for _ in $(seq 1 100); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p1/crl/ca.crl")" = 200 ] && break
	sleep 0.1
done

# The examples, as steps: a script running each with its output in
# out/N and its exit status in rc/N, and what the doc shows in want.json.
mkdir -p work/out work/rc
python3 - "$DOC" "$p1" "$p2" >work/steps.sh 2>parse.err <<'PY' || { t_fail "parse $DOC" "$(cat parse.err)"; t_done t_docs; exit 1; }
import json, re, sys
doc, p1, p2 = sys.argv[1:4]
lines = open(doc, encoding="utf-8").read().split("\n")
steps, i, inblock, loose = [], 0, False, []
while i < len(lines):
    l = lines[i]
    if l.startswith("```"):
        inblock = (not inblock) and l.strip() == "```sh"
        i += 1
        continue
    if not inblock or not l.startswith("$ "):
        # a command without its prompt would not be run: an error
        if inblock and re.search(r"\b(curl|openssl)\s", l) and \
                not l.startswith("#"):
            loose.append("%d: %s" % (i + 1, l[:70]))
        i += 1
        continue
    start, cmd = i + 1, l[2:]
    # continued while it ends with "\" or a single quote is open
    while (cmd.endswith("\\") or cmd.count("'") % 2 == 1) and i + 1 < len(lines):
        i += 1
        cmd += "\n" + lines[i]
    i += 1
    want = []
    while i < len(lines) and not lines[i].startswith("$ ") and \
            not lines[i].startswith("#") and not lines[i].startswith("```"):
        want.append(lines[i])
        i += 1
    cmd = cmd.replace("127.0.0.1:8080", "127.0.0.1:" + p1) \
             .replace("127.0.0.1:8443", "127.0.0.1:" + p2)
    steps.append({"line": start, "cmd": cmd, "want": want})
if not steps:
    sys.exit("no example found")
if loose:
    sys.exit("curl or openssl lines without a \"$ \" prompt, not run: " +
             "; ".join(loose))
json.dump(steps, open("work/want.json", "w"), ensure_ascii=False)
print("set -o pipefail")
for n, st in enumerate(steps):
    print("{\n%s\n} >work/out/%d 2>&1 </dev/null; echo $? >work/rc/%d" % (st["cmd"], n, n))
PY
timeout --kill-after=5 180 bash work/steps.sh >work/steps.log 2>&1

python3 - "$(basename "$DOC")" <<'PY'
import json, re, sys
name = sys.argv[1]
steps = json.load(open("work/want.json", encoding="utf-8"))

def keys_and_words(v, keys, words):
    if isinstance(v, dict):
        for k, x in v.items():
            keys.add(k)
            if isinstance(x, (bool, type(None))) or isinstance(x, str):
                words.add((k, json.dumps(x, ensure_ascii=False)))
            keys_and_words(x, keys, words)
    elif isinstance(v, list):
        for x in v:
            keys_and_words(x, keys, words)

WORD = r'(true|false|null|"[A-Za-z][A-Za-z0-9_.-]*")'

def check(st, out):
    want = [w for w in st["want"] if w.strip()]
    if not want:
        return None
    if re.fullmatch(r"[1-5][0-9][0-9]", want[-1].strip()):
        last = out.strip().split("\n")[-1].strip()
        if last != want[-1].strip():
            return "status %s, the doc shows %s" % (last, want[-1].strip())
        want, out = want[:-1], "\n".join(out.strip().split("\n")[:-1])
        if not want:
            return None
    text = "\n".join(want)
    if text.lstrip().startswith(("{", "[")):
        try:
            got = json.loads(out)
        except ValueError:
            return "not JSON: " + out[:200]
        keys, words = set(), set()
        keys_and_words(got, keys, words)
        for k in re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"\s*:', text):
            if k not in keys:
                return "no key %r in the answer: %s" % (k, out[:300])
        for k, v in re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"\s*:\s*' + WORD, text):
            if "..." not in v and (k, v) not in words:
                return "%s is not %s in the answer: %s" % (k, v, out[:300])
        return None
    got = [re.sub(r"\s+", " ", l).strip() for l in out.split("\n")]
    for w in want:
        w = re.sub(r"\s+", " ", w).strip()
        pat = re.escape(w).replace(re.escape("..."), ".*")
        pat = re.sub(r"(?<=\S)\\ \d+$", r"\\ \\d+", pat)
        if not any(re.fullmatch(pat, g) for g in got):
            return "no line like %r in: %s" % (w, out[-300:])
    return None

passed = failed = 0
for n, st in enumerate(steps):
    label = "%s:%d: %s" % (name, st["line"], st["cmd"].split("\n")[0][:70])
    try:
        rc = int(open("work/rc/%d" % n).read())
        out = open("work/out/%d" % n, encoding="utf-8", errors="replace").read()
    except (OSError, ValueError):
        print("not ok - %s: did not run (timed out?)" % label)
        failed += 1
        continue
    why = "exit %d: %s" % (rc, out[-300:].replace("\n", " ")) if rc != 0 else check(st, out)
    if why:
        print("not ok - %s: %s" % (label, why.replace("\n", " ")))
        failed += 1
    else:
        print("ok - " + label)
        passed += 1
open("work/counts", "w").write("%d %d\n" % (passed, failed))
PY
read -r np nf <work/counts 2>/dev/null || { np=0; nf=1; }
T_PASSED=$((T_PASSED + np))
T_FAILED=$((T_FAILED + nf))
t_done t_docs
