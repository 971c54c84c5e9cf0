// parseHostDeviceConfig: selectors (exactly one, deviceID replacing pciBusID), stateDir, lenient DEL parsing.
import t from 'tap'
import type { NetConf } from '../../../../pkg/cni/schema.js'
import { CniError } from '../../../../pkg/errors/cni-error.js'
import { DEFAULT_STATE_DIR, describeSelector, parseHostDeviceConfig, STATE_DIR_ENV } from '../../../../plugins/host/host-device/config.js'

const conf = (extra: Record<string, unknown>): NetConf => ({ cniVersion: '1.1.0', name: 'n', type: 'host-device', ...extra })

t.test('one selector of each kind', async (t) => {
  const rows: [Record<string, unknown>, unknown][] = [
    [{ device: 'eth1' }, { by: 'device', value: 'eth1' }],
    [{ hwaddr: '02:00:00:00:00:01' }, { by: 'hwaddr', value: '02:00:00:00:00:01' }],
    [{ kernelpath: '/sys/devices/pci0000:00/0000:00:19.0' }, { by: 'kernelpath', value: '/sys/devices/pci0000:00/0000:00:19.0' }],
    [{ pciBusID: '0000:03:00.1' }, { by: 'pciBusID', value: '0000:03:00.1', fromDeviceId: false }],
    [{ runtimeConfig: { deviceID: '0000:03:00.2' } }, { by: 'pciBusID', value: '0000:03:00.2', fromDeviceId: true }],
    // deviceID replaces pciBusID, as in the reference
    [{ pciBusID: '0000:03:00.1', runtimeConfig: { deviceID: '0000:03:00.2' } }, { by: 'pciBusID', value: '0000:03:00.2', fromDeviceId: true }],
  ]
  for (const [input, sel] of rows) t.same(parseHostDeviceConfig(conf(input)).selector, sel, JSON.stringify(input))
})

t.test('bad selectors are CniError 7 naming the problem', async (t) => {
  const rows: [Record<string, unknown>, RegExp][] = [
    [{}, /specify one of "device", "hwaddr", "kernelpath" or "pciBusID"/],
    [{ device: '' }, /device: must be an interface name/],
    [{ device: 'eth1', hwaddr: '02:00:00:00:00:01' }, /only one of .* got device, hwaddr/],
    [{ device: 'eth1', runtimeConfig: { deviceID: '0000:03:00.2' } }, /got device, runtimeConfig\.deviceID/],
    [{ device: 'much-too-long-name0' }, /device: must be an interface name/],
    [{ device: 42 }, /device/],
    [{ hwaddr: 'zz:00:00:00:00:01' }, /hwaddr: must be a MAC address/],
    [{ kernelpath: '/sys/class/net/eth0' }, /kernelpath: must be an absolute path under \/sys\/devices\//],
    [{ kernelpath: '/sys/devices/../../etc' }, /kernelpath/],
    [{ pciBusID: '../x' }, /pciBusID/],
    [{ device: 'eth1', stateDir: 'relative/dir' }, /stateDir: must be an absolute path/],
  ]
  for (const [input, msg] of rows) {
    t.throws(() => parseHostDeviceConfig(conf(input)), { name: 'CniError', code: 7, message: msg }, JSON.stringify(input))
  }
})

t.test('stateDir: config, then environment, then the default', async (t) => {
  t.equal(parseHostDeviceConfig(conf({ device: 'e' })).stateDir, DEFAULT_STATE_DIR)
  t.equal(parseHostDeviceConfig(conf({ device: 'e' }), { env: { [STATE_DIR_ENV]: '/tmp/x' } }).stateDir, '/tmp/x')
  t.equal(parseHostDeviceConfig(conf({ device: 'e', stateDir: '/srv/s' }), { env: { [STATE_DIR_ENV]: '/tmp/x' } }).stateDir, '/srv/s')
  t.equal(parseHostDeviceConfig(conf({ device: 'e' }), { env: { [STATE_DIR_ENV]: 'rel' } }).stateDir, DEFAULT_STATE_DIR, 'a relative env value is ignored')
})

t.test('ipam flag', async (t) => {
  t.equal(parseHostDeviceConfig(conf({ device: 'e' })).ipam, false)
  t.equal(parseHostDeviceConfig(conf({ device: 'e', ipam: { type: 'host-local' } })).ipam, true)
})

t.test('DEL parses leniently: no selector, several, or a bad one are fine; a bad stateDir is not', async (t) => {
  t.equal(parseHostDeviceConfig(conf({}), { lenient: true }).selector, undefined)
  t.equal(parseHostDeviceConfig(conf({ device: 'a', hwaddr: '02:00:00:00:00:01' }), { lenient: true }).selector, undefined)
  t.same(parseHostDeviceConfig(conf({ device: 'a', hwaddr: 'bad' }), { lenient: true }).selector, { by: 'device', value: 'a' })
  t.equal(parseHostDeviceConfig(conf({ stateDir: '/srv/s' }), { lenient: true }).stateDir, '/srv/s')
  t.throws(() => parseHostDeviceConfig(conf({ stateDir: 'rel' }), { lenient: true }), CniError)
})

t.test('describeSelector', async (t) => {
  t.equal(describeSelector({ by: 'device', value: 'eth1' }), 'device "eth1"')
  t.equal(describeSelector({ by: 'pciBusID', value: '0000:03:00.1', fromDeviceId: true }), 'deviceID "0000:03:00.1"')
  t.equal(describeSelector({ by: 'pciBusID', value: '0000:03:00.1', fromDeviceId: false }), 'pciBusID "0000:03:00.1"')
})

t.test("keys in any spelling Go accepts, also when DEL parses leniently", async (t) => {
  t.same(parseHostDeviceConfig(conf({ Device: 'eth1' })).selector, { by: 'device', value: 'eth1' })
  t.same(parseHostDeviceConfig(conf({ RuntimeConfig: { DeviceID: '0000:03:00.2' } })).selector, { by: 'pciBusID', value: '0000:03:00.2', fromDeviceId: true })
  t.same(parseHostDeviceConfig(conf({ HWADDR: '02:00:00:00:00:01', hwaddr: 'bad' }), { lenient: true }).selector, undefined, 'the later spelling wins, and is bad')
  t.same(parseHostDeviceConfig(conf({ PCIBUSID: '0000:03:00.1' }), { lenient: true }).selector, { by: 'pciBusID', value: '0000:03:00.1', fromDeviceId: false })
  t.equal(parseHostDeviceConfig(conf({ StateDir: '/srv/s' }), { lenient: true }).stateDir, '/srv/s')
  t.throws(() => parseHostDeviceConfig(conf({ StateDir: 'rel' }), { lenient: true }), { code: 7, message: 'invalid host-device configuration: StateDir: must be an absolute path, received "rel"' })
})
