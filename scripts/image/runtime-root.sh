#!/bin/sh
# Lays out the runtime image's root file system in $1, for a FROM scratch stage:
# the node binary, exactly the shared libraries that node and the native
# addons under $2/node_modules link against (found with ldd, so a base with
# another glibc layout still works), the users and name-service files, and
# the directories the relay writes to. No shell, no package manager.
# Runs inside the build stage of the root Containerfile.
set -eu
out=$1
app=$2
uid=10001

node_bin=$(readlink -f "$(command -v node)")
mkdir -p "$out/usr/local/bin" "$out/etc/relayfleet" "$out/tmp" "$out/var/lib/relayfleet"
cp "$node_bin" "$out/usr/local/bin/node"

objects=$(printf '%s\n' "$node_bin"; find "$app/node_modules" -name '*.node' -type f)
missing=$(printf '%s\n' "$objects" | xargs ldd | grep 'not found' || true)
if [ -n "$missing" ]; then
  echo "runtime-root: unresolved libraries: $missing" >&2
  exit 1
fi
# Indented "libx.so => /path (0x..)" lines and the interpreter's "/lib64/ld-linux... (0x..)";
# the unindented "file:" headers name the objects themselves.
printf '%s\n' "$objects" | xargs ldd \
  | awk '/^\t/ && $2 == "=>" && $3 ~ /^\// { print $3 } /^\t\// { print $1 }' \
  | sort -u \
  | while read -r lib; do
      mkdir -p "$out$(dirname "$lib")"
      cp -L "$lib" "$out$lib"
      echo "runtime-root: $lib"
    done

cat >"$out/etc/passwd" <<EOF
root:x:0:0:root:/root:/usr/sbin/nologin
relayfleet:x:$uid:$uid:relayfleet:/var/lib/relayfleet:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$out/etc/group" <<EOF
root:x:0:
relayfleet:x:$uid:
nogroup:x:65534:
EOF
# Without this file glibc asks DNS before /etc/hosts.
cat >"$out/etc/nsswitch.conf" <<EOF
passwd: files
group: files
hosts: files dns
EOF
chmod 1777 "$out/tmp"
chown "$uid:$uid" "$out/var/lib/relayfleet"
chmod 0750 "$out/var/lib/relayfleet"
