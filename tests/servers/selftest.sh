#!/bin/bash
# selftest.sh [SCENARIO...] — prove the test servers work (not part of envoi's suite).
#   1. gen-certs: every file present; verification results as intended.
#   2. Exim: STARTTLS and implicit TLS with AUTH PLAIN, LOGIN and CRAM-MD5
#      (swaks), BDAT (refclient), a 50 MB message, plain port, test hooks.
#   3. faultserver: every row of scenarios.tsv through refclient.py (a mini
#      envoi implementing CONTRACT.md's exit codes); its exit code must equal
#      the row's, and the server must not have crashed.
# With SCENARIO arguments, only those rows (and no Exim part).
# Needs root. Leaves nothing running; prints "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
work=$(mktemp -d /tmp/envoi-selftest.XXXXXX)
pass=0 fail=0
exim_dir=

cleanup() {
    [ -n "$exim_dir" ] && "$here/exim-stop" "$exim_dir"
    for d in "$work"/fs-*; do [ -d "$d" ] && "$here/fault-stop" "$d"; done
    rm -rf "$work"
}
trap cleanup EXIT

ok()  { pass=$((pass + 1)); printf 'ok   %s\n' "$*"; }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$*"; }
check() { local what=$1; shift; if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi; }

certs=$work/certs
start=$(date +%s%N)
"$here/gen-certs" "$certs" && ok "gen-certs ($(( ($(date +%s%N) - start) / 1000000 )) ms)" || bad gen-certs
export CERT_DIR=$certs CA=$certs/ca.pem

verify() { # verify FILE expected-substring
    local out
    out=$(certtool --verify --verify-hostname localhost --load-ca-certificate "$CA" --infile "$certs/$1" 2>&1)
    grep -q "$2" <<<"$out"
}

if [ $# = 0 ]; then
    for f in ca ca-key good good-key expired notyet wronghost selfsigned inter leaf-only leaf-key chain client client-key; do
        [ -s "$certs/$f.pem" ] || bad "cert file $f.pem missing"
    done
    check "good.pem verifies"          verify good.pem "Verified. The certificate is trusted"
    check "chain.pem verifies"         verify chain.pem "Verified. The certificate is trusted"
    check "expired.pem is expired"     verify expired.pem "expired certificate"
    check "notyet.pem is not yet valid" verify notyet.pem "not yet valid"
    check "wronghost.pem wrong name"   verify wronghost.pem "does not match"
    check "selfsigned.pem untrusted"   verify selfsigned.pem "issuer is unknown"
    check "leaf-only.pem untrusted"    verify leaf-only.pem "issuer is unknown"
    check "good.sha256" test "$(cat "$certs/good.sha256")" = \
        "$(openssl x509 -in "$certs/good.pem" -outform DER | sha256sum | cut -d' ' -f1)"

    # ---------------------------------------------------------------- Exim
    exim_dir=$work/exim
    t0=$(date +%s%N)
    if "$here/exim-start" "$exim_dir" >/dev/null; then
        ok "exim-start ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"
        # shellcheck disable=SC1091
        . "$exim_dir/env"
        sw() { swaks --server "$@" --from sender@example.com --h-Subject "selftest" \
                     --tls-ca-path "$CA" --tls-verify 2>&1; }
        for m in PLAIN LOGIN CRAM-MD5; do
            check "exim STARTTLS AUTH $m" bash -c "$(declare -f sw); CA=$CA; sw 127.0.0.1:$SUBMIT_PORT -tls -au '$USER' -ap '$PASS' -a $m --to st-$m@example.com | grep -q '^<~  250 OK id='"
            check "exim implicit AUTH $m" bash -c "$(declare -f sw); CA=$CA; sw [::1]:$IMPLICIT_PORT -tlsc -au '$USER' -ap '$PASS' -a $m --to im-$m@example.com | grep -q '^<~  250 OK id='"
        done
        check "exim: no AUTH before STARTTLS" bash -c "swaks --server 127.0.0.1:$SUBMIT_PORT -q ehlo 2>&1 | grep -q STARTTLS && ! swaks --server 127.0.0.1:$SUBMIT_PORT -q ehlo 2>&1 | grep -q AUTH"
        check "exim: wrong password 535" bash -c "swaks --server 127.0.0.1:$SUBMIT_PORT -tls --tls-ca-path $CA -au $USER -ap wrong -a PLAIN --to x@example.com 2>&1 | grep -q '535 Incorrect'"
        check "exim plain port: no STARTTLS, AUTH" bash -c "o=\$(swaks --server 127.0.0.1:$PLAIN_PORT -q ehlo 2>&1); ! grep -q STARTTLS <<<\"\$o\" && grep -q 'AUTH PLAIN LOGIN CRAM-MD5' <<<\"\$o\""
        check "exim via refclient (BDAT, STARTTLS, CRAM-MD5)" env ENVOI_PASSWORD="$PASS" $PY "$here/refclient.py" \
            --server=127.0.0.1:$SUBMIT_PORT --from=s@example.com --to=bdat@example.com --body=hi --ca-file="$CA" --user="$USER" --timeout=10
        check "exim refclient plain port + creds -> 81" bash -c "ENVOI_PASSWORD='$PASS' $PY $here/refclient.py --server=127.0.0.1:$PLAIN_PORT --from=s@example.com --to=p@example.com --user=$USER -q; test \$? = 81"
        check "exim test hooks: reject-/tempfail-" bash -c "swaks --server 127.0.0.1:$PLAIN_PORT --from s@example.com --to reject-x@example.com 2>&1 | grep -q '550 5.1.1' && swaks --server 127.0.0.1:$PLAIN_PORT --from s@example.com --to tempfail-x@example.com 2>&1 | grep -q '451 4.3.0'"
        # 50 MB body through STARTTLS + AUTH, with smtplib (swaks is slow).
        t0=$(date +%s)
        check "exim 50 MB message" $PY - "$SUBMIT_PORT" "$CA" "$USER" "$PASS" <<'PYEOF'
import smtplib, ssl, sys, os, base64
port, ca, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
body = base64.encodebytes(os.urandom(37 * 1024 * 1024)).replace(b"\n", b"\r\n")
assert len(body) > 50_000_000
msg = b"From: s@example.com\r\nTo: big@example.com\r\nSubject: big\r\n\r\n" + body
s = smtplib.SMTP("127.0.0.1", port, timeout=60)
s.starttls(context=ssl.create_default_context(cafile=ca))
s.login(user, pw)
s.sendmail("s@example.com", ["big@example.com"], msg)
s.quit()
PYEOF
        # Deliveries are asynchronous: wait for the maildir.
        want=8
        for _ in $(seq 150); do
            [ "$(ls "$MAILDIR/new" 2>/dev/null | wc -l)" -ge $want ] && break
            sleep 0.1
        done
        check "exim delivered $want messages to the maildir" test "$(ls "$MAILDIR/new" | wc -l)" -ge $want
        check "exim big message stored" bash -c "grep -l '^Envelope-to: big@example.com' $MAILDIR/new/* | xargs stat -c %s | awk '\$1 > 50000000 {f=1} END {exit !f}'"
        check "exim headers: auth+tls recorded" bash -c "grep -l '^Envelope-to: st-PLAIN@example.com' $MAILDIR/new/* | xargs grep -q '^X-Envoi-Test-Auth: tester'"
        "$here/exim-stop" "$exim_dir"
        no_exim_left() { ! pgrep -f "exim4 -C $exim_dir/exim.conf"; }
        check "exim-stop: no process left" no_exim_left
        check "exim used the same CA" cmp "$CA" "$certs/ca.pem"
        exim_dir=
        export CERT_DIR=$certs CA=$certs/ca.pem    # the env file changed them
    else
        bad "exim-start"
    fi
fi

# ------------------------------------------------------------ faultserver
good_sha=$(cat "$certs/good.sha256")
run_row() { # scenario args exit
    local name=$1 args=$2 want=$3 d=$work/fs-$1 port
    port=$("$here/fault-start" "$name" "$d") || { bad "$name: server did not start"; return; }
    args=${args//\{CA\}/$CA}; args=${args//\{CERT_DIR\}/$CERT_DIR}
    args=${args//\{PORT\}/$port}; args=${args//\{HOST\}/127.0.0.1}; args=${args//\{GOOD_SHA256\}/$good_sha}
    local base=(--from=sender@example.com --to=rcpt@example.com --body=hello --ca-file="$CA")
    [[ $args == *--server=* ]] || base+=("--server=127.0.0.1:$port")
    [[ $args == *--timeout=* ]] || base+=(--timeout=5)
    local t0 got ms
    t0=$(date +%s%N)
    # shellcheck disable=SC2086
    ENVOI_PASSWORD='s3cret-Pa55!' timeout 60 $PY "$here/refclient.py" "${base[@]}" $args 2>"$d/client.err"
    got=$?
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    "$here/fault-stop" "$d"
    if grep -q '"end": "server exception' "$d/log.json" 2>/dev/null || [ -s "$d/stderr" ]; then
        bad "$name: server exception: $(head -c 300 "$d/stderr")"
    elif [[ "|$want|" == *"|$got|"* ]]; then
        ok "$name -> $got (${ms} ms)"
    else
        bad "$name: expected $want, refclient exited $got (${ms} ms): $(cat "$d/client.err")"
    fi
}

while IFS=$'\t' read -r name args want _; do
    [[ -z $name || $name == \#* ]] && continue
    if [ $# -gt 0 ]; then
        match=0; for s in "$@"; do [ "$s" = "$name" ] && match=1; done
        [ $match = 1 ] || continue
    fi
    [ "$args" = - ] && args=
    run_row "$name" "$args" "$want"
done < <($PY "$here/faultserver.py" --list)

if [ $# = 0 ]; then
    # The default server must catch a misbehaving client (so that a broken
    # envoi cannot pass): each case must end in a 554 naming the violation.
    cat >"$work/strict.py" <<'PYEOF'
import socket, sys, time
port, case = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
out = b""
def rd():
    global out
    time.sleep(0.1)
    s.settimeout(0.3)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except socket.timeout:
        pass
E, M, R, D, Q = b"EHLO t\r\n", b"MAIL FROM:<a@b.c>\r\n", b"RCPT TO:<d@e.f>\r\n", b"DATA\r\n", b"QUIT\r\n"
steps = {"nopipe": [E, M + R, D, b"hi\r\n.\r\n", Q],
         "barelf": [E, M, R, D, b"a\nb\r\n.\r\n", Q],
         "barecr": [E, M, R, D, b"a\rb\r\n.\r\n", Q],
         "size": [E, b"MAIL FROM:<a@b.c> SIZE=3\r\n", R, D, b"hello\r\n.\r\n", Q],
         "8bit": [E, M, R, D, b"h\xc3\xa9\r\n.\r\n", Q],
         "longline": [E, M, R, D, b"x" * 1200 + b"\r\n.\r\n", Q],
         "dataafterdata": [E, M, R, D + b"hi\r\n.\r\n", Q],
         "starttls": [E, b"STARTTLS\r\nMAIL FROM:<x@y>\r\n"],
         "dots": [E, M, R, D, b"..\r\n.x\r\n...\r\nz\r\n.\r\n", Q]}[case]
rd()
for x in steps:
    s.sendall(x)
    rd()
print(out.decode(errors="replace"))
PYEOF
    strict() { # strict SCENARIO CASE EXPECTED-REGEX
        local d=$work/fs-strict-$2 port
        port=$("$here/fault-start" "$1" "$d") || return 1
        $PY "$work/strict.py" "$port" "$2" >"$d/out"
        "$here/fault-stop" "$d"
        grep -Eq "$3" "$d/out" "$d/log.json"
    }
    check "strict: pipelining not offered"   strict ok_no_pipelining nopipe "554 .*pipelined MAIL without PIPELINING"
    check "strict: bare LF in data"          strict ok_plain barelf "554 .*bare LF"
    check "strict: bare CR in data"          strict ok_plain barecr "554 .*bare CR"
    check "strict: SIZE= mismatch"           strict ok_plain size "554 .*SIZE=3 declared"
    check "strict: 8-bit without 8BITMIME"   strict ok_plain 8bit "554 .*8-bit data"
    check "strict: line > 1000 octets"       strict ok_plain longline "554 .*longer than 1000"
    check "strict: data sent before 354"     strict ok_plain dataafterdata "554 .*after DATA"
    check "strict: bytes after STARTTLS"     strict ok starttls "bytes after STARTTLS before the 220"
    check "strict: dot-stuffed data accepted" strict ok_plain dots "250 2.0.0 OK"
    check "strict: message stored unstuffed" cmp "$work/fs-strict-dots/log.msg1" <(printf '.\r\nx\r\n..\r\nz\r\n')
    # the global alarm ends a server nobody stops
    alarm_ends() {
        local d=$work/fs-alarm t0=$SECONDS
        "$here/fault-start" greeting_never "$d" --alarm 2 >/dev/null || return 1
        exec 7<>"/dev/tcp/127.0.0.1/$(cat "$d/port")"
        while ! grep -q '"alarm": true' "$d/log.json" 2>/dev/null && [ $((SECONDS - t0)) -lt 6 ]; do sleep 0.1; done
        exec 7>&-
        grep -q '"alarm": true' "$d/log.json"
    }
    check "faultserver --alarm ends a stalled server" alarm_ends

    check "scenarios.tsv is up to date (faultserver.py --list)" \
        diff <($PY "$here/faultserver.py" --list) "$here/scenarios.tsv"
fi
no_fs_left() { ! pgrep -f "faultserver.py .*$work/fs-"; }
check "no faultserver left running" no_fs_left
echo "$pass passed, $fail failed"
[ $fail = 0 ]
