#!/usr/bin/env bash
# Install the pinned real Claude Code CLI into <repo>/.tools/claude and link its
# native binary as <repo>/.tools/bin/claude (used by the e2e tests).
# Idempotent: exits quickly when the pinned version is already installed.
# Needs only node/npm and access to the npm registry.
set -euo pipefail

CLAUDE_CODE_VERSION="${CLAUDE_CODE_VERSION:-2.1.197}"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$repo/.tools"
prefix="$tools/claude"
bindir="$tools/bin"
link="$bindir/claude"

case "$(uname -m)" in
  x86_64|amd64) arch=x64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) echo "install-claude: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac
platform="linux-$arch"
# musl-based systems (Alpine) need the -musl build.
case "$(ldd --version 2>&1 || true)" in *musl*) platform="$platform-musl" ;; esac
pkg="@anthropic-ai/claude-code-$platform"
native="$prefix/node_modules/$pkg/claude"
# Relative link target, so the checkout can be moved.
target="../claude/node_modules/$pkg/claude"

installed_version() {
  local pj="$prefix/node_modules/$pkg/package.json"
  [ -f "$pj" ] || return 1
  node -e 'process.stdout.write(require(process.argv[1]).version)' "$pj"
}

is_native() {
  # A real binary is ELF and large; the wrapper's placeholder is a small script.
  [ -f "$1" ] && [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = "177ELF" ]
}

link_binary() {
  mkdir -p "$bindir"
  chmod +x "$native"
  ln -sfn "$target" "$link"
}

if [ "$(installed_version 2>/dev/null || true)" = "$CLAUDE_CODE_VERSION" ] && is_native "$native"; then
  [ "$(readlink "$link" 2>/dev/null || true)" = "$target" ] || link_binary
  echo "$link"
  exit 0
fi

command -v npm >/dev/null || { echo "install-claude: npm not found" >&2; exit 1; }
mkdir -p "$prefix"
# A private package.json keeps npm from walking up into the repo.
[ -f "$prefix/package.json" ] || echo '{"name":"nova-tools-claude","private":true}' > "$prefix/package.json"

echo "install-claude: installing @anthropic-ai/claude-code@$CLAUDE_CODE_VERSION ($pkg) into $prefix" >&2
# --ignore-scripts: the wrapper's postinstall only copies the platform binary
# over bin/claude.exe; we link the platform binary directly instead. The platform
# package is named explicitly so it is installed even if npm skips optional deps.
npm install --prefix "$prefix" --no-audit --no-fund --ignore-scripts --no-save \
  --loglevel=error \
  "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION" "$pkg@$CLAUDE_CODE_VERSION" >&2

if ! is_native "$native"; then
  echo "install-claude: native binary not found at $native" >&2
  exit 1
fi
link_binary
v="$("$link" --version 2>/dev/null || true)"
echo "install-claude: $v" >&2
echo "$link"
