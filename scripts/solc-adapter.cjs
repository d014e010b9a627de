#!/usr/bin/env node
/*
 * A native-solc look-alike over the npm `solc` package (solcjs, WebAssembly).
 *
 * No native solc can be downloaded on these machines, but py-solc-x and forge both drive a
 * `solc` executable. This adapter answers the two calls they make:
 *   --version                     -> "solc, the solidity compiler ...\nVersion: 0.8.x+commit..."
 *   --standard-json [--base-path D] [--allow-paths ...] [--include-path P]...  (JSON on stdin)
 * Imports are resolved against the base path, the include paths and node_modules.
 *
 * Trap (see shared/STACK.md): never call process.exit() right after writing to stdout; on a
 * pipe Node then drops everything past 64 KiB. We write and let the process end by itself.
 */
'use strict';
const fs = require('fs');
const path = require('path');

const solc = require(path.join(__dirname, '..', 'node_modules', 'solc'));

function parseArgs(argv) {
  const opts = { standardJson: false, version: false, roots: [process.cwd()] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--version') opts.version = true;
    else if (arg === '--standard-json') opts.standardJson = true;
    else if (arg === '--base-path' || arg === '--include-path') opts.roots.push(argv[++i]);
    else if (arg.startsWith('--base-path=') || arg.startsWith('--include-path=')) {
      opts.roots.push(arg.slice(arg.indexOf('=') + 1));
    } else if (arg === '--allow-paths') i += 1;
  }
  opts.roots.push(path.join(__dirname, '..', 'node_modules'));
  opts.roots.push(path.join(__dirname, '..'));
  return opts;
}

function findImports(roots) {
  return (importPath) => {
    const candidates = path.isAbsolute(importPath)
      ? [importPath]
      : roots.map((root) => path.resolve(root, importPath));
    for (const candidate of candidates) {
      if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) {
        return { contents: fs.readFileSync(candidate, 'utf8') };
      }
    }
    return { error: `File not found: ${importPath}` };
  };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.version) {
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return;
  }
  if (!opts.standardJson) {
    process.stderr.write('solc-adapter: only --version and --standard-json are supported\n');
    process.exitCode = 2;
    return;
  }
  const input = fs.readFileSync(0, 'utf8');
  const output = solc.compile(input, { import: findImports(opts.roots) });
  process.stdout.write(output);
}

main();
