#!/usr/bin/env bash
# Makes the test PKI with the openssl command line, into the directory given (created if needed).
# Nothing here is checked in: the certificates are made fresh for every test run, so none expires
# by accident, and the expired ones are expired on purpose.
#
#   root            test root CA
#   inter           intermediate CA (signed by root); signs everything below unless noted
#   server          TLS server for mud.test, localhost, 127.0.0.1  (server-chain.pem = server + inter)
#   server-expired  the same names, expired in 2020
#   other-root      an unknown root; other-server is a TLS server certificate from it
#   signer          MUD signer: keyUsage digitalSignature          (signer-chain.pem = inter)
#   signer2         another maker's signer (other subject), same CA
#   signer-nods     a signer whose keyUsage lacks digitalSignature
#   signer-nokeyusage a signer without a keyUsage extension
#   signer-expired  a signer certificate expired in 2020
#   signer-codesign a signer with extendedKeyUsage codeSigning (needs purpose "any")
#   signer-untrusted a signer from other-root
set -euo pipefail
openssl=${OPENSSL:-openssl}
dir=$1
mkdir -p "$dir"
cd "$dir"

key() { "$openssl" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }

cat > ca.ext <<'X'
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always
X
cat > inter.ext <<'X'
basicConstraints=critical,CA:TRUE,pathlen:0
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always
X
cat > server.ext <<'X'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:mud.test,DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always
X
cat > signer.ext <<'X'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always
X
cat > signer-nods.ext <<'X'
basicConstraints=critical,CA:FALSE
keyUsage=critical,keyEncipherment
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always
X
cat > signer-nokeyusage.ext <<'X'
basicConstraints=critical,CA:FALSE
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always
X
cat > signer-codesign.ext <<'X'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=codeSigning
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always
X

root() { # name subject
  key "$1"
  "$openssl" req -x509 -new -key "$1.key" -subj "$2" -days 3650 -out "$1.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" 2>/dev/null
}
issue() { # name subject issuer extfile [keyname]
  local k=${5:-$1}
  [ -f "$k.key" ] || key "$k"
  "$openssl" req -new -key "$k.key" -subj "$2" -out "$1.csr" 2>/dev/null
  "$openssl" x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days 825 \
    -extfile "$4" -out "$1.pem" 2>/dev/null
}
# A certificate valid only in January 2020, through `openssl ca` (x509 -req cannot backdate).
issueExpired() { # name subject issuer extfile keyname
  local k=${5:-$1}
  [ -f "$k.key" ] || key "$k"
  mkdir -p ca-db/new
  : > ca-db/index.txt
  [ -f ca-db/serial ] || echo 1000 > ca-db/serial
  cat > ca-db/ca.cnf <<X
[ ca ]
default_ca = test
[ test ]
database = ca-db/index.txt
new_certs_dir = ca-db/new
serial = ca-db/serial
default_md = sha256
policy = anything
unique_subject = no
email_in_dn = no
[ anything ]
commonName = supplied
organizationName = optional
X
  "$openssl" req -new -key "$k.key" -subj "$2" -out "$1.csr" 2>/dev/null
  "$openssl" ca -batch -config ca-db/ca.cnf -cert "$3.pem" -keyfile "$3.key" -in "$1.csr" -out "$1.pem" \
    -startdate 20200101000000Z -enddate 20200201000000Z -extfile "$4" -notext 2>/dev/null
}

root root "/O=mudguard test/CN=mudguard test root"
issue inter "/O=mudguard test/CN=mudguard test intermediate" root inter.ext
issue server "/O=mudguard test/CN=mud.test" inter server.ext
issueExpired server-expired "/O=mudguard test/CN=mud.test" inter server.ext server
cat server.pem inter.pem > server-chain.pem
cat server-expired.pem inter.pem > server-expired-chain.pem

root other-root "/O=somebody else/CN=unknown root"
issue other-server "/O=somebody else/CN=mud.test" other-root server.ext server

cp inter.pem signer-chain.pem
issue signer "/O=Example Maker/CN=Example Maker MUD signer" inter signer.ext
issue signer2 "/O=Other Maker/CN=Other Maker MUD signer" inter signer.ext
issue signer-nods "/O=Example Maker/CN=no digitalSignature" inter signer-nods.ext
issue signer-nokeyusage "/O=Example Maker/CN=no key usage" inter signer-nokeyusage.ext
issue signer-codesign "/O=Example Maker/CN=code signing signer" inter signer-codesign.ext
issueExpired signer-expired "/O=Example Maker/CN=expired signer" inter signer.ext
issue signer-untrusted "/O=somebody else/CN=untrusted signer" other-root signer.ext
rm -f ./*.csr
