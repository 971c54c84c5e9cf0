// bin/host-local: addresses from ranges, reserved in files under dataDir (reference type "host-local",
// same configuration keys and on-disk format). The code lives in pkg/host-local, which the bridge also
// runs in-process when this very executable is the host-local it would exec.
import { pluginMain } from '../../pkg/skel/main.js'
import { hostLocalPlugin } from '../../pkg/host-local/verbs.js'

pluginMain(hostLocalPlugin)
