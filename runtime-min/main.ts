// bin/berth: the CLI. Everything lives in cli.ts (the only yargs importer). The same bundle is what the
// daemon's namespace worker threads run (daemon/netns-worker.ts): they serve instead of parsing argv.
import { isNetnsWorker, serveNetnsWorker } from '../daemon/netns-worker.js'
import { main } from './cli.js'

if (isNetnsWorker()) serveNetnsWorker()
else main(process.argv.slice(2))
