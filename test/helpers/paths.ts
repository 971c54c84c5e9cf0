// Where the repository, its built executables and fixtures live, for tests.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const BIN_DIR = join(REPO_ROOT, 'bin')
export const FIXTURES = join(REPO_ROOT, 'test', 'fixtures')
