#!/usr/bin/env bash
# Fills the six service-account passwords of the .env next to this script with fresh random values
# (32 hex characters each), keeping the previous file as .env.bak. Run it after `cp env.example .env`.
set -euo pipefail
env_file="$(cd "$(dirname "$0")" && pwd)/.env"
[ -f "$env_file" ] || { echo "gen-passwords.sh: no $env_file; first: cp env.example .env" >&2; exit 1; }

secret() { openssl rand -hex 16; }

args=()
for name in JICOFO_AUTH_PASSWORD JVB_AUTH_PASSWORD JIGASI_XMPP_PASSWORD JIBRI_RECORDER_PASSWORD \
            JIBRI_XMPP_PASSWORD JIGASI_TRANSCRIBER_PASSWORD; do
  args+=(-e "s#^${name}=.*#${name}=$(secret)#")
done
sed -i.bak "${args[@]}" "$env_file"
