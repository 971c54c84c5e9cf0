// bin/berth: the CLI. Everything lives in cli.ts (the only yargs importer).
import { main } from './cli.js'
main(process.argv.slice(2))
