#!/usr/bin/env bash
# System packages the tests and the bench need: real peers (Prosody, ejabberd, slapd, coturn) and a
# real browser (Chromium). Runs apt as root; otherwise names what to install and fails.
set -euo pipefail
PACKAGES=(chromium chromium-driver prosody ejabberd slapd ldap-utils coturn pebble openssl curl iproute2
  # recording, SIP and transcription: an RTMP server, ffprobe, a SIP phone and registrar, SIPp (a
  # phone that types DTMF in SIP INFO), speech
  nginx-light libnginx-mod-rtmp ffmpeg baresip kamailio kamailio-tls-modules sip-tester espeak-ng janus)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Node.js and npm run Strophe.js in the transport tests and Etherpad in the shared document test
# (both from the npm registry: make node-deps); any install of them will do.
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${missing[*]}" >&2
  echo "install them as root: apt-get install -y ${missing[*]}" >&2
  exit 1
fi

# The tests start these servers themselves on their own ports; the packages' own daemons must not
# start (no init here anyway) or take the ports the tests use.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created_policy=1
fi
export DEBIAN_FRONTEND=noninteractive
# slapd asks for an admin password at install; the tests make their own database instead.
echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ "$created_policy" = 1 ] && rm -f "$policy"
# Stop any daemon a postinst started regardless, so the loopback ports are ours.
for svc in prosody ejabberd slapd coturn nginx kamailio janus; do
  pkill -x "$svc" 2>/dev/null || true
done
pkill -f 'beam.smp.*ejabberd' 2>/dev/null || true
exit 0
