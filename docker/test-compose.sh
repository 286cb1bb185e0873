#!/usr/bin/env bash
# The images and compose files, built and run for real: a private Docker engine, a local Debian base
# image (no registry is needed), every image built with `make`, the stack (plus jvb2.yml's second
# bridge) brought up with a `.env` made as the README says (env.example + gen-passwords.sh) on free
# ports, and every healthcheck awaited. Then, from this host through the published ports only: the
# REST ports answer, `prosodyctl register|unregister` change the account store, and two meetings
# of two participants each join over wss://localhost:$HTTPS_PORT/xmpp-websocket: the focus answers,
# offers Jingle, ICE and DTLS succeed through the bridges' UDP ports, colibri-ws opens through the
# web service, audio one participant sends reaches the other, and the two meetings land on different bridges. Finally `down`, the
# engine stopped, and the host's bridges, iptables rules and ip_forward restored as they were found.
#
# Run as root (apt, dockerd, iptables). Environment knobs:
#   JITSI_PY_DOCKER_STATE  directory for the engine's data, kept between runs when given
#                          (images are then reused); default: a temporary directory, removed
#   HOST_CA                CA bundle to trust inside the base image (default: the host's bundle)
#   DEBIAN_MIRROR          mirror for debootstrap (default: the first one in the host's apt sources)
#   STAGES                 which stages run, of "overlays base build up join hold" (default: all but
#                          hold); "overlays" resolves the overlay files (`compose config`, no image);
#                          with "hold" the engine and stack stay up (also after a failure) until
#                          Ctrl-C, for a look with the DOCKER_HOST and compose command it prints
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
STAGES=" ${STAGES:-overlays base build up join} "
PY=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || PY=python3
BASE_IMAGE=jitsi-py/debian:bookworm
PROJECT=jitsipytest$$
IMAGE_REPO=jitsi-py-test

log() { printf '%s test-compose: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
has() { case "$STAGES" in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
hold() {
  log "holding; in another shell: export DOCKER_HOST=$DOCKER_HOST; ${COMPOSE[*]} ps"
  log "Ctrl-C (or kill $$) ends the hold, brings the stack down and stops the engine"
  trap 'exit 130' INT TERM
  while :; do sleep 1 9>&-; done   # short sleeps: the trap runs between them; none outlives us
}
die() { log "FAILED: $*"; if has hold; then hold; fi; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: it installs packages, starts dockerd and changes iptables"

# One run at a time on a machine: every dockerd uses the same docker0 bridge and iptables chains,
# and each run restores the network it found, which must not be another run's live state.
LOCK=/run/lock/jitsi-py-test-compose.lock
[ -d /run/lock ] || LOCK=/tmp/jitsi-py-test-compose.lock
exec 9>"$LOCK"
if ! flock -n 9; then
  log "waiting for another test-compose.sh run to finish ($LOCK)"
  flock -w 600 9 || die "another test-compose.sh run held $LOCK for 10 minutes"
fi

if [ -n "${JITSI_PY_DOCKER_STATE:-}" ]; then
  STATE=$JITSI_PY_DOCKER_STATE; KEEP_STATE=1
else
  STATE=$(mktemp -d /tmp/jitsi-py-docker.XXXXXX); KEEP_STATE=0
fi
mkdir -p "$STATE"
RUN=$(mktemp -d /tmp/jitsi-py-compose.XXXXXX)   # this run's .env, CONFIG and logs
export DOCKER_HOST=unix://$STATE/docker.sock
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0   # bookworm has no buildx; the classic builder works
# The stack under test: the four services plus a second bridge (jvb2.yml), to see conferences spread.
COMPOSE_FILES=(-f "$HERE/docker-compose.yml" -f "$HERE/jvb2.yml")
SERVICES=(prosody jicofo jvb jvb2 web)

install_packages() {
  local need=()
  command -v dockerd >/dev/null || need+=(docker.io)
  command -v docker-compose >/dev/null || need+=(docker-compose)
  command -v iptables-save >/dev/null || need+=(iptables)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  command -v openssl >/dev/null || need+=(openssl)
  [ ${#need[@]} -eq 0 ] && return 0
  log "installing ${need[*]}"
  local policy=/usr/sbin/policy-rc.d created=0
  # The package's init script must not start a system-wide dockerd: ours runs on its own socket.
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; created=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  [ "$created" = 1 ] && rm -f "$policy"
  return 0
}

# What dockerd changes in the host's network stack, saved to be put back afterwards.
save_network() {
  iptables-save -t filter >"$RUN/iptables.filter"
  iptables-save -t nat >"$RUN/iptables.nat"
  cat /proc/sys/net/ipv4/ip_forward >"$RUN/ip_forward"
  ip -o link show type bridge | awk -F': ' '{print $2}' | sort >"$RUN/bridges"
}

restore_network() {
  [ -f "$RUN/ip_forward" ] || return 0
  local bridge
  for bridge in $(ip -o link show type bridge | awk -F': ' '{print $2}' | sort | comm -13 "$RUN/bridges" -); do
    ip link del "$bridge" 2>/dev/null || true
  done
  iptables-restore <"$RUN/iptables.filter"
  iptables-restore <"$RUN/iptables.nat"
  sysctl -qw net.ipv4.ip_forward="$(cat "$RUN/ip_forward")"
}

COMPOSE=()
COMPOSE_CMD=()
pick_compose() {  # compose v2 when the docker CLI has it, else Debian's docker-compose v1
  local cmd=(docker-compose)
  if docker compose version >/dev/null 2>&1; then cmd=(docker compose); fi
  log "compose: ${cmd[*]} $("${cmd[@]}" version --short 2>/dev/null)"
  COMPOSE_CMD=("${cmd[@]}")
  COMPOSE=("${cmd[@]}" --project-name "$PROJECT" --env-file "$RUN/.env" "${COMPOSE_FILES[@]}")
}

# The overlays as a user combines them with docker-compose.yml, resolved by compose itself (no image
# is built): each adds its service, and jigasi.yml hands the gateway every variable it reads, its RTP
# range as published UDP ports, and its CONFIG directory (where its TLS certificate is kept).
check_overlays() {
  local env="$RUN/overlay.env" services config block name targets want
  local files=(-f "$HERE/docker-compose.yml" -f "$HERE/jigasi.yml" -f "$HERE/jibri.yml" -f "$HERE/transcriber.yml")
  printf '%s\n' "CONFIG=$RUN/overlay-config" HTTP_PORT=8000 HTTPS_PORT=8443 JIGASI_SIP_URI=jigasi@sip.example.com \
    JIGASI_PORT_MIN=20100 JIGASI_PORT_MAX=20103 >"$env"
  services=$("${COMPOSE_CMD[@]}" --env-file "$env" "${files[@]}" config --services 2>&1) \
    || die "the overlays do not resolve: $services"
  for name in web prosody jicofo jvb jigasi jibri transcriber; do
    grep -qx "$name" <<<"$services" || die "no $name service with the overlays: $services"
  done
  config=$("${COMPOSE_CMD[@]}" --env-file "$env" "${files[@]}" config 2>&1) || die "compose config: $config"
  block=$(awk '/^  jigasi:$/ {on = 1; next} on && /^  [^ ]/ {exit} on' <<<"$config")
  for name in $(cd "$ROOT" && "$PY" -c 'from jitsi_py.settings.fields import env_names
from jitsi_py.settings.sip import Sip
print(" ".join(n for n in env_names(Sip) if n != "JITSI_PY_SIP_HTTP_INTERFACES"))'); do
    grep -qE "^      $name:" <<<"$block" || die "jigasi.yml: $name does not reach the gateway"
  done
  grep -qE '^      JIGASI_SIP_URI: "?jigasi@sip.example.com' <<<"$block" || die "jigasi.yml: JIGASI_SIP_URI not passed on"
  targets=$(grep -oE 'target: "?[0-9]+' <<<"$block" | grep -oE '[0-9]+$' | sort -n | tr '\n' ' ')
  want="20100 20101 20102 20103 "
  [ "$targets" = "$want" ] || die "jigasi.yml: published ports '$targets', expected the RTP range '$want'"
  [ "$(grep -cE 'protocol: "?udp' <<<"$block")" = 4 ] || die "jigasi.yml: the RTP range is not UDP"
  grep -q "$RUN/overlay-config/jigasi" <<<"$block" || die "jigasi.yml: CONFIG/jigasi is not mounted"
  log "the overlays resolve: jigasi.yml gives service jigasi every variable, UDP 20100-20103 and CONFIG/jigasi"
}

ENGINE_PID=
start_engine() {
  save_network
  mkdir -p "$STATE/data" "$STATE/exec"
  cat >"$STATE/daemon.json" <<JSON
{
  "data-root": "$STATE/data",
  "exec-root": "$STATE/exec",
  "pidfile": "$STATE/dockerd.pid",
  "hosts": ["unix://$STATE/docker.sock"],
  "storage-driver": "overlay2"
}
JSON
  dockerd --config-file "$STATE/daemon.json" >>"$STATE/dockerd.log" 2>&1 9>&- &
  ENGINE_PID=$!
  local i
  for i in $(seq 1 120); do
    docker version >/dev/null 2>&1 && break
    kill -0 "$ENGINE_PID" 2>/dev/null || break
    sleep 0.25
  done
  docker version --format '{{.Server.Version}}' >/dev/null 2>&1 \
    || { tail -20 "$STATE/dockerd.log"; die "dockerd did not start (log: $STATE/dockerd.log)"; }
  log "dockerd $(docker version --format '{{.Server.Version}}') up on $DOCKER_HOST"
}

stop_engine() {
  [ -n "$ENGINE_PID" ] || return 0
  kill -TERM "$ENGINE_PID" 2>/dev/null || true
  local i
  for i in $(seq 1 150); do kill -0 "$ENGINE_PID" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$ENGINE_PID" 2>/dev/null; then kill -KILL "$ENGINE_PID"; fi
  wait "$ENGINE_PID" 2>/dev/null || true
  ENGINE_PID=
  log "dockerd stopped"
}

make_base() {
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    log "base image $BASE_IMAGE already present"; return 0
  fi
  local mirror=${DEBIAN_MIRROR:-}
  if [ -z "$mirror" ]; then
    mirror=$(grep -rhoE '^(deb|URIs:)[[:space:]]+http[^[:space:]]*/debian/?' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
             | awk '{print $2}' | head -1 || true)
  fi
  local ca=${HOST_CA:-/etc/ssl/certs/ca-certificates.crt}
  [ -r "$ca" ] || die "no CA bundle at $ca (set HOST_CA)"
  log "debootstrap bookworm (${mirror:-default mirror})"
  local rootfs=$STATE/rootfs
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,curl \
    bookworm "$rootfs" ${mirror:+"$mirror"} >"$STATE/debootstrap.log" 2>&1 \
    || { tail -20 "$STATE/debootstrap.log"; die "debootstrap failed"; }
  # TLS leaving this host may be re-signed by a CA only the host trusts: builds must trust it too.
  install -m644 "$ca" "$rootfs/usr/local/share/ca-certificates/host-ca-bundle.crt"
  chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" --numeric-owner -c . \
    | docker import --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
  log "base image $BASE_IMAGE imported"
}

build_images() {
  log "building images (make -C docker)"
  make -C "$HERE" --no-print-directory BASE_IMAGE="$BASE_IMAGE" \
    JITSI_IMAGE_REPO="$IMAGE_REPO" JITSI_IMAGE_VERSION=test >"$RUN/build.log" 2>&1 \
    || { tail -40 "$RUN/build.log"; die "image build failed (log: $RUN/build.log)"; }
  log "images built: $(docker images --format '{{.Repository}}:{{.Tag}}' "$IMAGE_REPO/*" | sort | tr '\n' ' ')"
}

free_port() {  # a port free for both TCP and UDP on this host
  "$PY" - <<'PY'
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("0.0.0.0", port)); break
    except OSError:
        continue
    finally:
        t.close(); u.close()
print(port)
PY
}

prepare_env() {
  cp "$HERE/env.example" "$HERE/gen-passwords.sh" "$RUN/"
  cp "$RUN/env.example" "$RUN/.env"
  "$RUN/gen-passwords.sh"
  [ -f "$RUN/.env.bak" ] || die "gen-passwords.sh kept no .env.bak"
  grep -qE '^JICOFO_AUTH_PASSWORD=[0-9a-f]{32}$' "$RUN/.env" || die "gen-passwords.sh wrote no JICOFO_AUTH_PASSWORD"
  HTTP_PORT=$(free_port); HTTPS_PORT=$(free_port); JVB_PORT=$(free_port); JVB2_PORT=$(free_port)
  JICOFO_REST_PORT=$(free_port); JVB_COLIBRI_PORT=$(free_port)
  CONFIG=$RUN/cfg
  sed -i -e "s#^CONFIG=.*#CONFIG=$CONFIG#" -e "s#^HTTP_PORT=.*#HTTP_PORT=$HTTP_PORT#" \
         -e "s#^HTTPS_PORT=.*#HTTPS_PORT=$HTTPS_PORT#" "$RUN/.env"
  cat >>"$RUN/.env" <<ENV
PUBLIC_URL=https://localhost:$HTTPS_PORT
JVB_PORT=$JVB_PORT
JICOFO_REST_PORT=$JICOFO_REST_PORT
JVB_COLIBRI_PORT=$JVB_COLIBRI_PORT
JVB2_PORT=$JVB2_PORT
JVB2_COLIBRI_PORT=$(free_port)
JVB_ADVERTISE_IPS=127.0.0.1
JVB_ADVERTISE_PRIVATE_CANDIDATES=0
JVB_DISABLE_STUN=1
JICOFO_ENABLE_REST=1
JICOFO_ENABLE_HEALTH_CHECKS=1
ENABLE_COLIBRI_WEBSOCKET=1
JITSI_IMAGE_REPO=$IMAGE_REPO
JITSI_IMAGE_VERSION=test
RESTART_POLICY=no
ENV
  # The README's mkdir step; the containers run as uid 1000, as upstream's do.
  mkdir -p "$CONFIG"/{web,transcripts,prosody/config,prosody/prosody-plugins-custom,jicofo,jvb,jigasi,jibri}
  mkdir -p "$CONFIG"/storage/{web,prosody,transcripts} "$CONFIG"/tmp/web-load-test
  chown -R 1000:1000 "$CONFIG"
  log "ports: http $HTTP_PORT, https $HTTPS_PORT, jvb $JVB_PORT/udp, jvb2 $JVB2_PORT/udp, jicofo rest $JICOFO_REST_PORT, jvb rest $JVB_COLIBRI_PORT"
}

STACK_UP=0
bring_up() {
  prepare_env
  "${COMPOSE[@]}" config -q
  log "compose up"
  STACK_UP=1
  "${COMPOSE[@]}" up -d >"$RUN/up.log" 2>&1 || { cat "$RUN/up.log"; die "compose up failed"; }
  local deadline=$((SECONDS + 120)) svc cid status pending
  while :; do
    pending=()
    for svc in "${SERVICES[@]}"; do
      cid=$("${COMPOSE[@]}" ps -q "$svc" 2>/dev/null || true)
      status=$(docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$cid" 2>/dev/null \
               || echo "not created")
      case "$status" in
        running/healthy) ;;
        running/*) pending+=("$svc:$status") ;;
        *) "${COMPOSE[@]}" logs --no-color --tail=40 "$svc"; die "$svc is $status" ;;
      esac
    done
    [ ${#pending[@]} -eq 0 ] && break
    if [ $SECONDS -ge $deadline ]; then
      for svc in "${SERVICES[@]}"; do "${COMPOSE[@]}" logs --no-color --tail=30 "$svc"; done
      die "not healthy within 120 s: ${pending[*]}"
    fi
    sleep 1
  done
  log "every service healthy: ${SERVICES[*]}"
}

check_published() {
  curl -fsS -o /dev/null "http://127.0.0.1:$JICOFO_REST_PORT/about/health" || die "jicofo health not published on 127.0.0.1:$JICOFO_REST_PORT"
  curl -fsS -o /dev/null "http://127.0.0.1:$JVB_COLIBRI_PORT/about/health" || die "jvb health not published on 127.0.0.1:$JVB_COLIBRI_PORT"
  curl -fsSk -o /dev/null "https://localhost:$HTTPS_PORT/" || die "web not answering on https://localhost:$HTTPS_PORT/"
  log "published ports answer"
}

# What users type against the prosody container: accounts land in (and leave) the server's store.
check_prosodyctl() {
  local user=dockertest$$ listed
  "${COMPOSE[@]}" exec -T prosody prosodyctl --config /config/prosody.cfg.lua register "$user" meet.jitsi "pw$$" \
    || die "prosodyctl register failed"
  listed=$("${COMPOSE[@]}" exec -T prosody python -m jitsi_py.xmpp list-users meet.jitsi)
  grep -qx "$user" <<<"$listed" || die "prosodyctl register: $user not in the store (list-users: $listed)"
  "${COMPOSE[@]}" exec -T prosody prosodyctl --config /config/prosody.cfg.lua unregister "$user" meet.jitsi \
    || die "prosodyctl unregister failed"
  listed=$("${COMPOSE[@]}" exec -T prosody python -m jitsi_py.xmpp list-users meet.jitsi)
  ! grep -qx "$user" <<<"$listed" || die "prosodyctl unregister: $user still in the store"
  listed=$("${COMPOSE[@]}" logs -t --no-color prosody)
  grep -q 'listening' <<<"$listed" || die "compose logs -t shows no prosody log"
  log "prosodyctl register/unregister change the XMPP server's account store; compose logs show each service"
}


join() {
  check_published
  check_prosodyctl
  log "client joins through the published ports"
  (cd "$ROOT" && "$PY" -m tests.docker.join_client \
    --websocket "wss://localhost:$HTTPS_PORT/xmpp-websocket" --media-host 127.0.0.1 --media-ports "$JVB_PORT,$JVB2_PORT" --rooms 2 --every-port --colibri-ws) \
    || die "client join failed"
}

bring_down() {
  [ "$STACK_UP" = 1 ] || return 0
  local started=$SECONDS
  "${COMPOSE[@]}" down --volumes --remove-orphans >"$RUN/down.log" 2>&1 || cat "$RUN/down.log"
  STACK_UP=0
  log "compose down in $((SECONDS - started)) s"
}

cleanup() {
  local rc=$?
  set +e
  if [ "$STACK_UP" = 1 ] && [ "$rc" -ne 0 ]; then "${COMPOSE[@]}" logs --no-color --tail=60 >"$RUN/compose.log" 2>&1; fi
  bring_down
  stop_engine
  restore_network
  [ "$KEEP_STATE" = 1 ] || rm -rf "$STATE"
  if [ "$rc" -eq 0 ]; then rm -rf "$RUN"; else log "kept $RUN for inspection"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

install_packages
start_engine
pick_compose
has overlays && check_overlays
has base && make_base
has build && build_images
has up && bring_up
has join && join
has hold && hold
bring_down
log "OK"
