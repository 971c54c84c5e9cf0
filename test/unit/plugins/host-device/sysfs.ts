// sysfs selectors on a fake /sys tree (t.testdir): kernelpath, pciBusID (plain, virtio, auxiliary), DPDK drivers.
// The integration tests cannot cover these: sysfs shows the namespace that mounted it, not the fake host.
import t, { type Test } from 'tap'
import { symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { isDpdkDevice, pciDriver, sysfsNetNames } from '../../../../plugins/host/host-device/sysfs.js'

const tree = {
  devices: {
    'pci0000:00': {
      '0000:00:19.0': { net: { enp0s25: { address: '' } } },
      '0000:00:03.0': { 'virtio0': { net: { eth0: {} } } },
      '0000:00:04.0': { net: {} },
    },
  },
  bus: {
    pci: { devices: {} },
    auxiliary: { devices: { 'mlx5_core.sf.4': { net: { enp3s0f0s4: {}, aaa0: {} } } } },
    drivers: { 'vfio-pci': {}, e1000e: {} },
  },
}

function fakeSys(t: Test): string {
  const root = t.testdir(tree)
  const pci = join(root, 'bus/pci/devices')
  for (const dev of ['0000:00:19.0', '0000:00:03.0', '0000:00:04.0']) symlinkSync(join(root, 'devices/pci0000:00', dev), join(pci, dev))
  symlinkSync(join(root, 'bus/drivers/e1000e'), join(root, 'devices/pci0000:00/0000:00:19.0/driver'))
  symlinkSync(join(root, 'bus/drivers/vfio-pci'), join(root, 'devices/pci0000:00/0000:00:04.0/driver'))
  return root
}

t.test('kernelpath: names under <path>/net', async (t) => {
  const root = fakeSys(t)
  t.same(sysfsNetNames({ by: 'kernelpath', value: '/sys/devices/pci0000:00/0000:00:19.0' }, root), ['enp0s25'])
  t.throws(() => sysfsNetNames({ by: 'kernelpath', value: '/sys/devices/pci0000:00/0000:00:99.0' }, root), {
    code: 7,
    message: /host device kernelpath "\/sys\/devices\/pci0000:00\/0000:00:99.0" not found: no network device/,
  })
})

t.test('pciBusID: net/, then virtio*/net/, then the auxiliary bus', async (t) => {
  const root = fakeSys(t)
  t.same(sysfsNetNames({ by: 'pciBusID', value: '0000:00:19.0', fromDeviceId: false }, root), ['enp0s25'])
  t.same(sysfsNetNames({ by: 'pciBusID', value: '0000:00:03.0', fromDeviceId: false }, root), ['eth0'])
  t.same(sysfsNetNames({ by: 'pciBusID', value: 'mlx5_core.sf.4', fromDeviceId: true }, root), ['aaa0', 'enp3s0f0s4'], 'sorted')
  t.throws(() => sysfsNetNames({ by: 'pciBusID', value: '0000:00:04.0', fromDeviceId: false }, root), { code: 7, message: /pciBusID "0000:00:04.0" not found/ })
  t.throws(() => sysfsNetNames({ by: 'pciBusID', value: '0000:09:00.0', fromDeviceId: true }, root), { code: 7, message: /deviceID "0000:09:00.0" not found/ })
})

t.test('drivers: DPDK (userspace) functions are recognised', async (t) => {
  const root = fakeSys(t)
  t.equal(pciDriver('0000:00:19.0', root), 'e1000e')
  t.equal(pciDriver('0000:00:03.0', root), undefined)
  t.equal(isDpdkDevice('0000:00:04.0', root), true)
  t.equal(isDpdkDevice('0000:00:19.0', root), false)
  t.equal(isDpdkDevice('0000:09:00.0', root), false)
})
