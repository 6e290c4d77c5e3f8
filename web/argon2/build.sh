#!/bin/sh
# Rebuilds intake/static/argon2id.min.js, byte for byte, from the npm
# packages package-lock.json pins (their integrity checked by npm ci):
# @noble/hashes (the code) and esbuild (the bundler). See web/VENDOR.md.
# Needs Node.js 20.19 or later and npm; writes nothing but the output file.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../../intake/static/argon2id.min.js"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$here/entry.js" "$tmp/"
cd "$tmp"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
./node_modules/.bin/esbuild entry.js --bundle --format=iife --minify \
	--target=es2017 --charset=utf8 --legal-comments=inline \
	'--banner:js=/*! Argon2id from @noble/hashes 2.4.0, The MIT License (MIT), Copyright (c) 2022 Paul Miller (https://paulmillr.com): see web/noble-hashes-LICENSE. Built by web/argon2/build.sh. */' \
	--log-level=warning --outfile=argon2id.min.js
cp argon2id.min.js "$out"
sha256sum "$out"
