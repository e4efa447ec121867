#!/usr/bin/env node
import { main } from './cli/main';

/** `txmgr`, the bin entry (package.json points here); the commands live in ./cli/, one module per area. */
if (require.main === module) {
  void main().then((code) => process.exit(code));
}
