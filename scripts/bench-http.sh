#!/usr/bin/env bash
# HTTP benchmark: `netmodels serve --model epoll --handler http` against nginx
# (one worker, a fixed 200) and a node:http server, all three returning
# "Hello, world\n" and all driven by the same `wrk -t1 -c64 --latency` run.
#
# Usage: scripts/bench-http.sh [-d SECONDS] [-c CONNECTIONS] [-w WARMUP_SECONDS]
#                              [-r ROUNDS] [--pin] [--strict] [-h]
#   -d, --duration S     seconds of measured load per server (default 5; env BENCH_DURATION)
#   -r, --rounds N       run the three servers N times, in turn, and report the
#                        median of each column (default 1; env BENCH_ROUNDS)
#   -c, --connections N  wrk connections (default 64; env BENCH_CONNECTIONS)
#   -w, --warmup S       seconds of unmeasured load first, 0 for none (default 1; env BENCH_WARMUP)
#   --pin                pin the server to CPU 0 and wrk to CPU 1 (taskset); by
#                        default both float over all CPUs, as the issue asks
#   --strict             exit 3 (instead of 0) when wrk or nginx is missing
#   env WRK, NGINX       the binaries to use (default: found on PATH, nginx also in /usr/sbin)
#
# wrk and nginx are optional: this script installs nothing. If one is missing
# it says which and how to install it, and exits 0 ("skipped"; a missing
# optional tool is not a failure of the library) unless --strict or
# BENCH_HTTP_STRICT=1 is given, then it exits 3. A missing node or an unbuilt
# package (dist/, the addon) is a real error: exit 1. Bad usage: exit 2.
#
# Columns: wrk's requests/s and p50/p99 latency, the ratio of requests/s to
# nginx's, wrk's error count (socket errors + non-2xx replies), and the
# server's own CPU time per request (user+system, all its threads, from
# /proc/PID/stat). With 2 cores wrk and the server share the machine, so
# requests/s moves with whatever else runs (the load average is printed);
# CPU per request barely does, and is the fairer cost comparison.
#
# Every process it starts is stopped on exit (also on Ctrl-C), and everything
# it writes lives in one temp dir that is removed. It listens on 127.0.0.1 only,
# on free ports, and needs no root: nginx runs as a single process
# (master_process off) from a generated config whose pid file, error log and
# temp paths are all inside the temp dir.
set -euo pipefail

DURATION=${BENCH_DURATION:-5}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
WARMUP=${BENCH_WARMUP:-1}
ROUNDS=${BENCH_ROUNDS:-1}
STRICT=${BENCH_HTTP_STRICT:-0}
PIN=0
HOST=127.0.0.1
BODY='Hello, world\n'   # as nginx's `return 200 "..."` spells it: 13 bytes

usage() { sed -n '6,17p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "bench-http: $*" >&2; exit 1; }
bad_usage() { echo "bench-http: $*" >&2; usage >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    -d|--duration) [ $# -ge 2 ] || bad_usage "$1 needs a value"; DURATION=$2; shift 2 ;;
    -c|--connections) [ $# -ge 2 ] || bad_usage "$1 needs a value"; CONNECTIONS=$2; shift 2 ;;
    -w|--warmup) [ $# -ge 2 ] || bad_usage "$1 needs a value"; WARMUP=$2; shift 2 ;;
    -r|--rounds) [ $# -ge 2 ] || bad_usage "$1 needs a value"; ROUNDS=$2; shift 2 ;;
    --pin) PIN=1; shift ;;
    --strict) STRICT=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) bad_usage "unknown argument '$1'" ;;
  esac
done
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || bad_usage "duration must be a positive integer (seconds), got '$DURATION'"
[[ $CONNECTIONS =~ ^[1-9][0-9]*$ ]] || bad_usage "connections must be a positive integer, got '$CONNECTIONS'"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || bad_usage "rounds must be a positive integer, got '$ROUNDS'"
[[ $WARMUP =~ ^[0-9]+$ ]] || bad_usage "warmup must be a non-negative integer (seconds), got '$WARMUP'"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# --- Prerequisites ------------------------------------------------------------
# $WRK and $NGINX may name the binaries; else they are looked up on PATH
# (and nginx in /usr/sbin, where Debian puts it, off a non-root PATH).
missing=()
WRK=${WRK:-$(command -v wrk 2>/dev/null || true)}
[ -n "$WRK" ] && [ -x "$WRK" ] || missing+=(wrk)
if [ -z "${NGINX:-}" ]; then
  NGINX=$(command -v nginx 2>/dev/null || true)
  [ -n "$NGINX" ] || [ ! -x /usr/sbin/nginx ] || NGINX=/usr/sbin/nginx
fi
[ -n "$NGINX" ] && [ -x "$NGINX" ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
  {
    echo "bench-http: skipped: ${missing[*]} not installed (this script installs nothing)."
    echo "  Debian/Ubuntu:  sudo apt-get install ${missing[*]}"
    echo "  (any nginx flavour works: nginx, nginx-light, nginx-core; Fedora: dnf install ${missing[*]})"
  } >&2
  [ "$STRICT" = 1 ] && exit 3
  exit 0
fi
command -v node >/dev/null 2>&1 || die "node is not on PATH"
[ -f "$ROOT/dist/cli.js" ] || die "$ROOT/dist/cli.js is missing: build the package first (npm install / npm run build)"
[ -f "$ROOT/build/Release/netmodels.node" ] || [ -d "$ROOT/prebuilds" ] ||
  die "the native addon is not built ($ROOT/build/Release/netmodels.node): run npm install"
if [ "$PIN" = 1 ]; then
  command -v taskset >/dev/null 2>&1 || die "--pin needs taskset (util-linux)"
  [ "$(nproc)" -ge 2 ] || die "--pin needs at least 2 CPUs"
  SERVER_PIN=(taskset -c 0)
  WRK_PIN=(taskset -c 1)
else
  SERVER_PIN=()
  WRK_PIN=()
fi

# --- Process bookkeeping and cleanup ------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-http.XXXXXX")
PIDS=()

stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local i
  # Newest first: the load generator before the server it drives.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[$i]}"; done
  PIDS=()
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts "$@" in the background with output to $TMP/$1.log, records its pid.
start() {
  local name=$1; shift
  "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  PIDS+=("$!")
  SERVER_PID=$!
}

# Runs "${@:2}" with output to $1 and waits for it. In the background, so a
# SIGTERM/SIGINT to this script is acted on at once (bash runs traps only
# between foreground commands, but interrupts `wait`) and the cleanup stops it.
run_waited() {
  local log=$1 pid rc=0; shift
  "$@" >"$log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait "$pid" || rc=$?
  forget_pid "$pid"
  if [ "$rc" -ne 0 ]; then
    echo "bench-http: '$*' failed (exit $rc):" >&2
    cat "$log" >&2
    return "$rc"
  fi
}

forget_pid() {
  local keep=() pid
  for pid in ${PIDS[@]+"${PIDS[@]}"}; do [ "$pid" = "$1" ] || keep+=("$pid"); done
  PIDS=(${keep[@]+"${keep[@]}"})
}

stop_last() {
  stop_pid "$SERVER_PID"
  forget_pid "$SERVER_PID"
}

# Waits for "... listening on HOST:PORT" on the server's stdout; sets PORT.
wait_listening() {
  local name=$1 i line
  for i in $(seq 1 100); do
    line=$(grep -m1 -o 'listening on [^ ]*:[0-9][0-9]*' "$TMP/$name.out" 2>/dev/null || true)
    if [ -n "$line" ]; then PORT=${line##*:}; return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench-http: $name did not start; its output:" >&2
  cat "$TMP/$name.out" "$TMP/$name.err" >&2 || true
  return 1
}

# Waits until something accepts on HOST:$1.
wait_port() {
  local port=$1 i
  for i in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/$HOST/$port") 2>/dev/null; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

free_port() {
  node -e 'const s = require("net").createServer().listen(0, process.argv[1], () => {
    console.log(s.address().port); s.close(); });' "$HOST"
}

# One HTTP/1.1 request with Connection: close; fails unless it is a 200 with our body.
check_reply() {
  local name=$1 port=$2 reply
  reply=$(exec 3<>"/dev/tcp/$HOST/$port" &&
    printf 'GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$HOST" >&3 &&
    timeout 5 cat <&3) || true
  case "$reply" in
    "HTTP/1.1 200 "*"Hello, world") ;;
    *) echo "bench-http: $name answered unexpectedly:" >&2; printf '%s\n' "$reply" >&2; return 1 ;;
  esac
}

# --- The three servers ----------------------------------------------------------
start_netmodels() {
  start netmodels ${SERVER_PIN[@]+"${SERVER_PIN[@]}"} node "$ROOT/dist/cli.js" serve --model epoll --handler http \
    --host "$HOST" --port 0 --quiet
  wait_listening netmodels
}

start_node_http() {
  start node_http ${SERVER_PIN[@]+"${SERVER_PIN[@]}"} node -e '
    const http = require("node:http");
    const body = Buffer.from("Hello, world\n");
    const server = http.createServer((req, res) => {
      res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": body.length });
      res.end(body);
    });
    server.listen(0, process.argv[1], () => {
      console.log(`node:http server listening on ${process.argv[1]}:${server.address().port}`);
    });
    process.on("SIGTERM", () => server.close(() => process.exit(0)).closeAllConnections());
  ' "$HOST"
  wait_listening node_http
}

# A directive for each temp path whose module this nginx was built with, so
# nginx never touches the packaged /var/lib/nginx paths (root-only).
nginx_temp_paths() {
  local v m
  v=$("$NGINX" -V 2>&1)
  echo "  client_body_temp_path $TMP/nginx/client_body;"
  for m in proxy fastcgi uwsgi scgi; do
    case "$v" in *"--without-http_${m}_module"*) ;; *) echo "  ${m}_temp_path $TMP/nginx/$m;" ;; esac
  done
}

start_nginx() {
  local attempt
  mkdir -p "$TMP/nginx"
  for attempt in 1 2 3; do
    PORT=$(free_port)
    cat >"$TMP/nginx/nginx.conf" <<EOF
# Generated by bench-http.sh: one nginx process, a fixed 200, nothing on disk.
worker_processes 1;
master_process off;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events {
  worker_connections 1024;
}
http {
  access_log off;
  default_type text/plain;
$(nginx_temp_paths)
  server {
    listen $HOST:$PORT;
    location / {
      return 200 "$BODY";
    }
  }
}
EOF
    # -e: the error log before the config is read (else /var/log/nginx, root-only).
    start nginx ${SERVER_PIN[@]+"${SERVER_PIN[@]}"} "$NGINX" -p "$TMP/nginx" -e "$TMP/nginx/error.log" \
      -c "$TMP/nginx/nginx.conf"
    if wait_port "$PORT"; then return 0; fi
    stop_last
    # The port may have been taken between free_port and nginx's bind: retry.
    grep -q 'Address already in use' "$TMP/nginx/error.log" "$TMP/nginx.err" 2>/dev/null && continue
    break
  done
  echo "bench-http: nginx did not start; its output:" >&2
  cat "$TMP/nginx.err" "$TMP/nginx/error.log" >&2 2>/dev/null || true
  return 1
}

# --- wrk and its output ---------------------------------------------------------
# wrk prints latencies as e.g. 812.00us, 1.23ms, 2.01s; print them in ms.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.3f", n }'
}

# utime+stime of process $1, all threads, in clock ticks.
cpu_ticks() {
  local stat
  stat=$(<"/proc/$1/stat")
  stat=${stat##*) }   # drop "pid (comm) ": comm may hold spaces
  awk '{ print $12 + $13 }' <<<"$stat"
}
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# Runs wrk against $1 (name) on $2 (port); sets RPS, P50, P99, ERRORS and
# CPU_US (the server's CPU microseconds per request during the measured run).
run_wrk() {
  local name=$1 port=$2 url out
  url="http://$HOST:$port/"
  if [ "$WARMUP" -gt 0 ]; then
    run_waited "$TMP/$name.warmup" ${WRK_PIN[@]+"${WRK_PIN[@]}"} "$WRK" -t1 -c"$CONNECTIONS" \
      -d"${WARMUP}s" "$url"
  fi
  local t0 t1
  t0=$(cpu_ticks "$SERVER_PID")
  run_waited "$TMP/$name.wrk" ${WRK_PIN[@]+"${WRK_PIN[@]}"} "$WRK" -t1 -c"$CONNECTIONS" \
    -d"${DURATION}s" --latency "$url"
  t1=$(cpu_ticks "$SERVER_PID")
  out=$(<"$TMP/$name.wrk")
  CPU_US=$(awk -v t="$((t1 - t0))" -v hz="$CLK_TCK" '/ requests in / {
    if ($1 > 0) printf "%.2f", t / hz * 1e6 / $1; else print "-" }' <<<"$out")
  RPS=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
  P50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
  P99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
  # Socket errors (connect+read+write+timeout) plus non-2xx/3xx replies.
  ERRORS=$(awk '/Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
                /Non-2xx or 3xx responses:/ { n += $5 }
                END { print n + 0 }' <<<"$out")
  [ -n "$RPS" ] || { echo "bench-http: could not parse wrk's output for $name:" >&2; echo "$out" >&2; return 1; }
}

# --- Run --------------------------------------------------------------------------
NAMES=(nginx netmodels node_http)
LABELS=("nginx (1 worker)" "netmodels epoll http" "node:http")
declare -A R_RPS R_P50 R_P99 R_ERR R_CPU   # space-separated values, one per round

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END {
  if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "bench-http: wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency (warm-up ${WARMUP}s) on $HOST," \
  "$(nproc) CPU(s)$([ "$PIN" = 1 ] && echo ', server on CPU 0, wrk on CPU 1')$([ "$ROUNDS" -gt 1 ] && echo ", median of $ROUNDS rounds")"
echo "  $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), $("$WRK" -v 2>&1 | head -n1 | awk '{print $1, $2}'), node $(node -v)"
echo "  load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

for ((round = 1; round <= ROUNDS; round++)); do
  for i in "${!NAMES[@]}"; do
    name=${NAMES[$i]}
    "start_$name" || exit 1
    check_reply "$name" "$PORT" || exit 1
    run_wrk "$name" "$PORT"
    stop_last
    printf '  round %d/%d  %-22s %9.0f req/s  p50 %s ms  p99 %s ms  %s us CPU/req  load %s\n' \
      "$round" "$ROUNDS" "${LABELS[$i]}" "$RPS" "$P50" "$P99" "$CPU_US" \
      "$(cut -d' ' -f1 /proc/loadavg)" >&2
    R_RPS[$name]+="$RPS " R_P50[$name]+="$P50 " R_P99[$name]+="$P99 "
    R_ERR[$name]+="$ERRORS " R_CPU[$name]+="$CPU_US "
  done
done
echo "  load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
echo

nginx_rps=$(median <<<"${R_RPS[nginx]}")
printf '%-22s %12s %9s %9s %9s %7s %13s\n' server "requests/s" "p50 ms" "p99 ms" "vs nginx" errors \
  "CPU us/req"
for i in "${!NAMES[@]}"; do
  name=${NAMES[$i]}
  rps=$(median <<<"${R_RPS[$name]}")
  ratio=$(awk -v a="$rps" -v b="$nginx_rps" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }')
  errors=$(tr ' ' '\n' <<<"${R_ERR[$name]}" | awk '{ n += $1 } END { print n + 0 }')
  printf '%-22s %12.0f %9.3f %9.3f %9s %7s %13.2f\n' "${LABELS[$i]}" "$rps" \
    "$(median <<<"${R_P50[$name]}")" "$(median <<<"${R_P99[$name]}")" "$ratio" "$errors" \
    "$(median <<<"${R_CPU[$name]}")"
done
