// bin/host-local: addresses from ranges, reserved in files under dataDir (reference type "host-local",
// same configuration keys and on-disk format). The code lives in pkg/host-local, which the bridge also
// runs in-process when this very executable is the host-local it would exec. Verbs load lazily so
// VERSION never pays for them.
import { pluginMain } from '../../pkg/skel/main.js'
import { HOST_LOCAL_INFO, hostLocalLoaders } from '../../pkg/host-local/verbs.js'

pluginMain(hostLocalLoaders, HOST_LOCAL_INFO)
