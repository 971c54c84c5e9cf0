// bin/berth: the CLI. Everything lives in cli.ts (the only yargs importer). The same bundle is what the
// daemon's worker threads run (daemon/worker.ts): they serve instead of parsing argv.
import { isNetnsWorker, serveNetnsWorker } from '../daemon/worker.js'
import { main } from './cli.js'

if (isNetnsWorker()) serveNetnsWorker()
else main(process.argv.slice(2))
