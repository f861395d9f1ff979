#!/usr/bin/env bash
# Installs the end-to-end test tools into a cache prefix OUTSIDE the project's node_modules:
#   code-server 4.100.3 (= VS Code 1.100.3, Node 20), playwright-core 1.65.1, @vscode/vsce 3.9.2
# and makes sure Debian's chromium / libkrb5-dev / pkg-config / ripgrep are present.
#
#   bash scripts/e2e-setup.sh            install when missing (a no-op in well under 2 s once installed)
#   bash scripts/e2e-setup.sh --force    wipe the prefix's node_modules and install again
#   MP_E2E_TOOLS=/some/dir bash scripts/e2e-setup.sh   use another prefix (default: <repo>/.e2e/tools, gitignored)
#
# Needs only the npm registry and Debian apt. Follows shared/docs/vscode-e2e-recipe.md; see the pitfalls there.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=${MP_E2E_TOOLS:-$REPO/.e2e/tools}
CODE_SERVER=code-server@4.100.3
PLAYWRIGHT=playwright-core@1.65.1
VSCE=@vscode/vsce@3.9.2
RG_PKG_VERSION=1.15.11                      # @vscode/ripgrep version that code-server 4.100.3's VS Code depends on
RG_ASSET=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz
APT_PKGS=(chromium libkrb5-dev pkg-config ripgrep)
# What a finished install is stamped with; any change here makes the next run reinstall.
WANT="$CODE_SERVER $PLAYWRIGHT $VSCE node=$(node -v) setup-v2"
STAMP=$PREFIX/.installed

FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

log() { printf '[e2e-setup] %s\n' "$*" >&2; }

# Files a working install must have: the three CLIs, VS Code's server entry, and the native modules that code-server's
# postinstall builds (if its install scripts were skipped these are missing and code-server fails at runtime).
NATIVE=(
  node_modules/code-server/lib/vscode/node_modules/node-pty/build/Release/pty.node
  node_modules/code-server/lib/vscode/node_modules/@vscode/spdlog/build/Release/spdlog.node
  node_modules/code-server/lib/vscode/node_modules/kerberos/build/Release/kerberos.node
  node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin/rg
)
installed() {
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] || return 1
  local f
  for f in node_modules/.bin/code-server node_modules/.bin/vsce node_modules/playwright-core/package.json \
           node_modules/code-server/lib/vscode/out/server-main.js "${NATIVE[@]}"; do
    [ -e "$PREFIX/$f" ] || return 1
  done
  [ -x /usr/bin/chromium ] # the only Debian package used at run time (the others are for building)
}

# Fast path, without taking the lock: nothing to do.
if [ $FORCE = 0 ] && installed; then
  exit 0
fi

mkdir -p "$PREFIX"
# Several test processes may call this at once: one installs, the others wait and then see the stamp.
exec 9>"$PREFIX/.lock"
flock 9
if [ $FORCE = 0 ] && installed; then
  exit 0
fi

# 1. Debian packages: chromium (the browser), libkrb5-dev + pkg-config (the `kerberos` native addon's fallback build,
#    recipe pitfall 2), ripgrep (stands in for @vscode/ripgrep's GitHub download, pitfall 3).
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=(sudo -n); else
      log "missing Debian packages: ${missing[*]}; run as root: apt-get update && apt-get install -y ${missing[*]}"
      exit 1
    fi
  fi
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Seed @vscode/ripgrep's download cache ($TMPDIR/vscode-ripgrep-cache-<ver>/<asset>) with Debian's rg, so its
#    postinstall never tries api.github.com (which fails the whole install after ~30 s of retries offline).
TMP=$PREFIX/tmp
RGC=$TMP/vscode-ripgrep-cache-$RG_PKG_VERSION
mkdir -p "$RGC" "$TMP/rgpkg"
if [ ! -s "$RGC/$RG_ASSET" ]; then
  cp /usr/bin/rg "$TMP/rgpkg/rg"
  tar czf "$RGC/$RG_ASSET" -C "$TMP/rgpkg" rg
fi

# 3. Install scripts. npm 11 gates dependency install scripts on an `allowScripts` policy (`npm help install-scripts`);
#    npm 11.19.1 still runs unreviewed ones with a warning, later versions block them. The policy is read from the
#    package.json of the project being installed. Two traps decide how this is done:
#    - code-server's postinstall runs its own `npm install --omit=dev` in lib/vscode (which builds node-pty, spdlog,
#      kerberos, ... from source). That nested install is a different project, so the prefix's allowScripts does not
#      reach it.
#    - the allow-scripts config (--allow-scripts, npm_config_allow_scripts, or allow-scripts= in an npmrc) can't carry
#      it either: npm exports non-default config to lifecycle scripts as npm_config_* env vars, and the nested
#      project-scoped install then fails with EALLOWSCRIPTS ("--allow-scripts is not allowed in project-scoped
#      installs").
#    So: the prefix's package.json allows argon2 (its native build) and @vscode/vsce-sign (copies its binary from
#    the platform package npm already installed), denies code-server@4.100.3's postinstall
#    (a `false` entry: skipped silently); we then give lib/vscode/package.json its own allowScripts for exactly the
#    packages with install scripts in its npm-shrinkwrap.json (pinned) and run code-server's postinstall.sh ourselves.
TOP_ALLOW=(argon2 @vscode/vsce-sign@2.1.0)
VSCODE_ALLOW=(@parcel/watcher@2.5.1 @vscode/deviceid@0.1.1 @vscode/ripgrep@1.15.11 @vscode/spdlog@0.15.1
              @vscode/windows-ca-certs@0.3.3 @vscode/windows-process-tree@0.6.0 @vscode/windows-registry@1.1.0
              kerberos@2.1.1 native-watchdog@1.4.2 node-pty@1.1.0-beta33)
node -e '
  const fs = require("fs"), [file, cs, pw, vsce, ...allow] = process.argv.slice(1);
  const split = (s) => { const i = s.lastIndexOf("@"); return [s.slice(0, i), s.slice(i + 1)]; };
  const pkg = {
    name: "magicportrait-e2e-tools", version: "0.0.0", private: true,
    description: "E2E tools cache written by scripts/e2e-setup.sh; not part of the project",
    dependencies: Object.fromEntries([cs, pw, vsce].map(split)),
    allowScripts: { [cs]: false, ...Object.fromEntries(allow.map((n) => [n, true])) },
  };
  fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
' "$PREFIX/package.json" "$CODE_SERVER" "$PLAYWRIGHT" "$VSCE" "${TOP_ALLOW[@]}"

# 4. Install. Env (recipe pitfalls 1, 3, 4, 5, 6):
#    npm_config_unsafe_perm=true  code-server's postinstall.sh refuses to run as root without it (npm 11: no flag)
#    npm_config_yes=true          node-pty's postinstall runs `npx node-gyp`; ~/.npmrc has yes=false -> "npx canceled"
#    npm_config_nodedir=/usr      node-gyp uses Debian's Node headers instead of downloading them
#    TMPDIR                       where @vscode/ripgrep looks for its cached download (seeded above)
#    XDG_*                        code-server writes ~/.config/code-server and ~/.local/share/code-server otherwise
#    npm_config_omit_lockfile_registry_resolved=false   ~/.npmrc here sets it true: lockfiles then lack `resolved`
#                                 URLs, the only trusted source of a package's version for allowScripts, so pinned
#                                 entries (pkg@1.2.3) stop matching on every later install of an existing tree
[ $FORCE = 1 ] && rm -rf "$PREFIX/node_modules" "$PREFIX/package-lock.json"
rm -f "$STAMP"
log "installing $CODE_SERVER $PLAYWRIGHT $VSCE into $PREFIX (a few minutes the first time; log: $PREFIX/install.log)"
t0=$(date +%s)
fail() { tail -n 60 "$PREFIX/install.log" >&2; log "$1; full log: $PREFIX/install.log"; exit 1; }
export TMPDIR=$TMP npm_config_unsafe_perm=true npm_config_yes=true npm_config_nodedir=/usr \
       npm_config_omit_lockfile_registry_resolved=false \
       npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false \
       XDG_CONFIG_HOME=$PREFIX/xdg/config XDG_DATA_HOME=$PREFIX/xdg/data XDG_CACHE_HOME=$PREFIX/xdg/cache
(cd "$PREFIX" && npm install --prefer-offline --loglevel=warn) >"$PREFIX/install.log" 2>&1 || fail "npm install failed"
CS=$PREFIX/node_modules/code-server
node -e '
  const fs = require("fs"), [file, ...allow] = process.argv.slice(1);
  const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
  pkg.allowScripts = Object.fromEntries(allow.map((n) => [n, true]));
  fs.writeFileSync(file, JSON.stringify(pkg, null, "\t") + "\n");
' "$CS/lib/vscode/package.json" "${VSCODE_ALLOW[@]}"
log "building code-server's VS Code dependencies (native modules)"
# postinstall.sh reads the Node major version and the package manager from npm_config_user_agent.
(cd "$CS" && npm_config_user_agent="npm/$(npm -v 2>/dev/null) node/$(node -v) linux x64" sh ./postinstall.sh) \
  >>"$PREFIX/install.log" 2>&1 || fail "code-server's postinstall.sh failed"
if grep -q 'not yet covered by allowScripts' "$PREFIX/install.log"; then
  log "warning: some install scripts were not covered by allowScripts:"
  grep -A12 'not yet covered by allowScripts' "$PREFIX/install.log" | grep 'install-scripts   ' >&2 || true
fi

for f in "${NATIVE[@]}"; do
  if [ ! -e "$PREFIX/$f" ]; then
    fail "install finished but $f is missing: its install script did not run"
  fi
done

# 5. Smoke test: code-server must start and answer /healthz (catches a native module that built but can't load).
SMOKE=$(mktemp -d "$TMP/smoke.XXXXXX")
PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
printf 'bind-addr: 127.0.0.1:%s\nauth: none\ncert: false\n' "$PORT" > "$SMOKE/config.yaml"
XDG_CONFIG_HOME=$SMOKE/xdg/config XDG_DATA_HOME=$SMOKE/xdg/data XDG_CACHE_HOME=$SMOKE/xdg/cache TMPDIR=$TMP \
  setsid "$PREFIX/node_modules/.bin/code-server" --config "$SMOKE/config.yaml" --user-data-dir "$SMOKE/user" \
  --extensions-dir "$SMOKE/exts" --bind-addr "127.0.0.1:$PORT" --auth none --disable-telemetry \
  --disable-update-check "$SMOKE" >"$SMOKE/server.log" 2>&1 &
CS_PID=$!
ok=0
for _ in $(seq 1 100); do
  if node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
       "http://127.0.0.1:$PORT/healthz" 2>/dev/null; then ok=1; break; fi
  kill -0 $CS_PID 2>/dev/null || break
  sleep 0.2
done
kill -TERM -- -$CS_PID 2>/dev/null || true
wait $CS_PID 2>/dev/null || true
if [ $ok != 1 ]; then
  cat "$SMOKE/server.log" >&2
  log "code-server did not answer /healthz"
  exit 1
fi
rm -rf "$SMOKE"

echo "$WANT" > "$STAMP"
log "ok in $(( $(date +%s) - t0 )) s: $(node -p "require(process.argv[1]).version" "$PREFIX/node_modules/code-server/package.json")"
