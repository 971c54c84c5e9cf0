// bin/host-device: the host-device executable; the type's code is described in plugin.ts.
import { pluginMain } from '../../../pkg/skel/main.js'
import { plugin } from './plugin.js'

pluginMain(plugin)
