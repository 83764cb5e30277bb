/**
 * Linux/macOS inventory through systeminformation's individual calls (`cpu`, `mem`, `fsSize`,
 * `networkInterfaces`, `networkInterfaceDefault`, `networkGatewayDefault`; never
 * `getAllData`/`getDynamicData`, nothing that sends packets), the OS release files instead of
 * `osInfo` (os-release.ts says why), and the package managers for software.
 *
 * Mapping to HwInventory (§5.5): `os_name` = os-release `NAME` (macOS `ProductName`), `os_version`
 * = `VERSION_ID` (`ProductVersion`), `os_build` = `BUILD_ID`, else the kernel release on Linux
 * (distros rarely have a build number; macOS gives `BuildVersion`), `cpu_cores` = physical cores,
 * disks = local block-device file systems with their mount point as `device_id` (the counterpart of
 * a Windows drive letter).
 */
import os from 'node:os';
import type * as si from 'systeminformation';
import { readOsRelease, type OsRelease } from './os-release.js';
import { collectPosixSoftware, type RunTool, runTool } from './posix-software.js';
import type { HwFacts, InventoryCollector, NetAdapter, SoftwareList } from './types.js';

/** File systems that are not disks (memory, images, overlays, network shares). */
const NON_DISK_FS = /^(tmpfs|devtmpfs|ramfs|squashfs|overlay|aufs|proc|sysfs|cgroup2?|nfs4?|cifs|smb3?|fuse\..*|autofs|efivarfs|iso9660)$/i;

/** The sources the collector reads; injectable so a test can make one fail. */
export interface PosixSources {
  osRelease: () => Promise<OsRelease>;
  cpu: typeof si.cpu;
  mem: typeof si.mem;
  fsSize: () => ReturnType<typeof si.fsSize>;
  networkInterfaces: () => Promise<si.Systeminformation.NetworkInterfacesData[]>;
  networkInterfaceDefault: typeof si.networkInterfaceDefault;
  networkGatewayDefault: typeof si.networkGatewayDefault;
  runTool: RunTool;
}

/**
 * systeminformation is imported on first use, not at agent start: it is ≈ 2 MB of heap and the
 * resident agent needs it once a day (docs/PERFORMANCE.md, idle footprint).
 */
const systeminformation = (): Promise<typeof si> => import('systeminformation');

/** The real sources. */
export const POSIX_SOURCES: PosixSources = {
  osRelease: () => readOsRelease(),
  cpu: async () => (await systeminformation()).cpu(),
  mem: async () => (await systeminformation()).mem(),
  fsSize: async () => (await systeminformation()).fsSize(),
  networkInterfaces: async () => (await systeminformation()).networkInterfaces(),
  networkInterfaceDefault: async () => (await systeminformation()).networkInterfaceDefault(),
  networkGatewayDefault: async () => (await systeminformation()).networkGatewayDefault(),
  runTool,
};

const toInt = (n: number | null | undefined): number => (typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.floor(n) : 0);

/** Creates the Linux/macOS collector. */
export function createPosixCollector(sources: PosixSources = POSIX_SOURCES): InventoryCollector {
  return {
    kind: 'posix',
    async collectHw(): Promise<HwFacts> {
      const [release, cpu, mem, fs] = await Promise.all([sources.osRelease(), sources.cpu(), sources.mem(), sources.fsSize()]);
      const disks = fs
        .filter(
          (d) => !NON_DISK_FS.test(d.type) && (d.fs.startsWith('/dev/') || process.platform === 'darwin') && !d.fs.startsWith('/dev/loop'),
        )
        .map((d) => ({ device_id: d.mount, size_bytes: toInt(d.size), free_bytes: toInt(d.available), file_system: d.type }));
      return {
        hostname: os.hostname(),
        os_name: release.name || os.type(),
        os_version: release.version || os.release(),
        os_build: release.build || os.release(),
        cpu_model: [cpu.manufacturer, cpu.brand].filter(Boolean).join(' ').trim(),
        cpu_cores: toInt(cpu.physicalCores) || toInt(cpu.cores) || os.cpus().length || 1,
        ram_bytes: toInt(mem.total) || os.totalmem(),
        disks,
      };
    },
    collectSw(): Promise<SoftwareList> {
      return collectPosixSoftware(sources.runTool);
    },
    async collectNet(): Promise<NetAdapter[]> {
      const [ifaces, defaultIface, gateway] = await Promise.all([
        sources.networkInterfaces(),
        sources.networkInterfaceDefault(),
        sources.networkGatewayDefault(),
      ]);
      // systeminformation reports one address per family; the OS lists them all.
      const addresses = os.networkInterfaces();
      return ifaces
        .filter((i) => !i.internal)
        .map((i) => {
          const all = addresses[i.iface] ?? [];
          const ipv4 = all.filter((a) => a.family === 'IPv4').map((a) => a.address);
          const ipv6 = all.filter((a) => a.family === 'IPv6').map((a) => a.address);
          return {
            name: i.iface,
            mac: i.mac,
            ipv4: ipv4.length > 0 ? ipv4 : i.ip4 ? [i.ip4] : [],
            ipv6: ipv6.length > 0 ? ipv6 : i.ip6 ? [i.ip6] : [],
            gateway: i.iface === defaultIface && gateway ? gateway : null,
            dhcp: typeof i.dhcp === 'boolean' ? i.dhcp : null,
          };
        });
    },
    async dispose() {
      // Nothing long-lived: systeminformation spawns short commands per call.
    },
  };
}
