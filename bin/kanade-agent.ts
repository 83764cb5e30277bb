#!/usr/bin/env node
/** The `kanade-agent` entry point of dist/ (the release bundle starts bin/cli.ts's main directly). */
import { main } from './cli.js';

await main(process.argv);
