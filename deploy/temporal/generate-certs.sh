#!/bin/sh
# Mutual TLS for the compose stack's Temporal (SPEC 10.2: Temporal is a trust boundary).
#
#   sh deploy/temporal/generate-certs.sh [DIR]      # DIR defaults to deploy/tls (git-ignored)
#
# Makes one private CA and, signed by it:
#   server.pem / server.key         the Temporal server (frontend and internode; SAN `temporal`,
#                                   `localhost`, 127.0.0.1), for both server and client auth
#   crisisdesk.pem / crisisdesk.key the API and the workers
#   ui.pem / ui.key                 the Temporal Web UI (read only: write actions are off)
#   admin.pem / admin.key           the namespace job and an operator's `temporal` CLI
# The server requires a client certificate signed by ca.pem, so without one of these files
# nothing reaches Temporal. Each container mounts only its own pair and ca.pem. Keep ca.key off
# the Docker host once the certificates are made; to rotate, run again with a new DIR (or delete
# the leaf files) and `docker compose up -d --force-recreate`.
#
# Existing files are kept, so a second run is a no-op. Needs openssl only.
set -eu

DIR="${1:-deploy/tls}"
DAYS="${TLS_DAYS:-825}"
mkdir -p "$DIR"
chmod 700 "$DIR"
cd "$DIR"

if [ ! -f ca.pem ]; then
  openssl req -x509 -newkey rsa:4096 -sha256 -nodes -days 3650 \
    -subj "/CN=CrisisDesk Temporal CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.pem
  chmod 600 ca.key
fi

leaf() {
  # leaf <name> <common name> <subjectAltName or "">
  name="$1"; cn="$2"; san="$3"
  [ -f "$name.pem" ] && return 0
  openssl req -newkey rsa:2048 -sha256 -nodes -subj "/CN=$cn" -keyout "$name.key" -out "$name.csr"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$DAYS" \
    -sha256 -extfile "$name.ext" -out "$name.pem"
  rm -f "$name.csr" "$name.ext"
  # Readable by the container's own user (Temporal's and CrisisDesk's images run unprivileged);
  # the directory itself stays 0700 and each container mounts only its own key.
  chmod 644 "$name.key"
}

leaf server temporal "DNS:temporal,DNS:localhost,IP:127.0.0.1"
leaf crisisdesk crisisdesk-app ""
leaf ui temporal-ui ""
leaf admin temporal-admin ""
echo "Certificates in $(pwd)"
