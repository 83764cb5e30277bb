/**
 * Windows inventory through one PowerShell session: `Get-CimInstance` on Win32_ComputerSystem,
 * Win32_OperatingSystem, Win32_Processor, Win32_LogicalDisk (DriveType=3),
 * Win32_NetworkAdapterConfiguration (IPEnabled), and installed software from the registry Uninstall
 * keys (HKLM and WOW6432Node; never Win32_Product, whose query triggers MSI self-repair), each
 * piped to `ConvertTo-Json -Compress`.
 *
 * Windows PowerShell 5.1's `ConvertTo-Json` writes a single object without an array around it and
 * nothing at all for an empty pipeline, so every answer goes through {@link asArray}.
 */
import type { HwFacts, InventoryCollector, NetAdapter, SoftwareItem, SoftwareList } from './types.js';
import { createPowerShellSession, type PowerShellRunner } from './powershell-session.js';

const UNINSTALL = 'SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*';

/** The exact commands sent to PowerShell (the fake PowerShell in the tests checks them verbatim). */
export const WINDOWS_COMMANDS = {
  computerSystem:
    'Get-CimInstance -ClassName Win32_ComputerSystem | Select-Object Name,DNSHostName,TotalPhysicalMemory | ConvertTo-Json -Compress',
  operatingSystem:
    'Get-CimInstance -ClassName Win32_OperatingSystem | Select-Object Caption,Version,BuildNumber,CSName | ConvertTo-Json -Compress',
  processor:
    'Get-CimInstance -ClassName Win32_Processor | Select-Object Name,NumberOfCores,NumberOfLogicalProcessors | ConvertTo-Json -Compress',
  logicalDisk:
    'Get-CimInstance -ClassName Win32_LogicalDisk -Filter "DriveType=3" | Select-Object DeviceID,Size,FreeSpace,FileSystem | ConvertTo-Json -Compress',
  networkAdapters:
    'Get-CimInstance -ClassName Win32_NetworkAdapterConfiguration -Filter "IPEnabled=True" | Select-Object Description,MACAddress,IPAddress,DefaultIPGateway,DHCPEnabled | ConvertTo-Json -Compress',
  software: `Get-ItemProperty -Path 'HKLM:\\${UNINSTALL}','HKLM:\\SOFTWARE\\WOW6432Node\\${UNINSTALL.slice('SOFTWARE\\'.length)}' -ErrorAction SilentlyContinue | Where-Object { $_.DisplayName } | Select-Object DisplayName,DisplayVersion,Publisher,InstallDate | ConvertTo-Json -Compress`,
} as const;

type Row = Record<string, unknown>;

/** Parses one ConvertTo-Json answer into rows: empty → [], an object → [object], an array as is. */
export function asArray(json: string, what: string): Row[] {
  const text = json.trim();
  if (text === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${what}: PowerShell did not return JSON (${text.slice(0, 80)})`);
  }
  const rows = Array.isArray(parsed) ? parsed : [parsed];
  return rows.filter((r): r is Row => typeof r === 'object' && r !== null);
}

const str = (v: unknown): string => (typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : '');
const int = (v: unknown): number => {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
};
const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : typeof v === 'string' ? [v] : [];

/** `InstallDate` in the Uninstall keys is `yyyyMMdd` (REG_SZ); anything else is reported as null. */
export function installDate(value: unknown): string | null {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(str(value));
  return m ? `${m[1]}-${m[2]}-${m[3]}` : null;
}

/** Creates the Windows collector over `runner` (a real session by default). */
export function createWindowsCollector(runner: PowerShellRunner = createPowerShellSession()): InventoryCollector {
  const rows = async (command: string, what: string): Promise<Row[]> => asArray(await runner.run(command), what);
  return {
    kind: 'windows',
    async collectHw(): Promise<HwFacts> {
      // One session runs one command at a time (node-powershell queues them), so these are sequential.
      const [cs] = await rows(WINDOWS_COMMANDS.computerSystem, 'Win32_ComputerSystem');
      const [osRow] = await rows(WINDOWS_COMMANDS.operatingSystem, 'Win32_OperatingSystem');
      const cpus = await rows(WINDOWS_COMMANDS.processor, 'Win32_Processor');
      const disks = await rows(WINDOWS_COMMANDS.logicalDisk, 'Win32_LogicalDisk');
      if (!cs || !osRow) throw new Error('Win32_ComputerSystem or Win32_OperatingSystem returned nothing');
      return {
        hostname: str(cs.DNSHostName) || str(cs.Name) || str(osRow.CSName),
        os_name: str(osRow.Caption),
        os_version: str(osRow.Version),
        os_build: str(osRow.BuildNumber),
        cpu_model: str(cpus[0]?.Name),
        cpu_cores:
          cpus.reduce((sum, c) => sum + int(c.NumberOfCores), 0) || cpus.reduce((sum, c) => sum + int(c.NumberOfLogicalProcessors), 0),
        ram_bytes: int(cs.TotalPhysicalMemory),
        disks: disks.map((d) => ({
          device_id: str(d.DeviceID),
          size_bytes: int(d.Size),
          free_bytes: int(d.FreeSpace),
          file_system: str(d.FileSystem),
        })),
      };
    },
    async collectSw(): Promise<SoftwareList> {
      const items: SoftwareItem[] = (await rows(WINDOWS_COMMANDS.software, 'Uninstall registry keys'))
        .filter((r) => str(r.DisplayName) !== '')
        .map((r) => ({
          name: str(r.DisplayName),
          version: str(r.DisplayVersion),
          publisher: str(r.Publisher) || null,
          install_date: installDate(r.InstallDate),
        }));
      items.sort((a, b) => a.name.localeCompare(b.name));
      return { items, notes: [] };
    },
    async collectNet(): Promise<NetAdapter[]> {
      return (await rows(WINDOWS_COMMANDS.networkAdapters, 'Win32_NetworkAdapterConfiguration')).map((r) => {
        const ips = strings(r.IPAddress);
        return {
          name: str(r.Description),
          mac: str(r.MACAddress),
          ipv4: ips.filter((ip) => !ip.includes(':')),
          ipv6: ips.filter((ip) => ip.includes(':')),
          gateway: strings(r.DefaultIPGateway)[0] ?? null,
          dhcp: typeof r.DHCPEnabled === 'boolean' ? r.DHCPEnabled : null,
        };
      });
    },
    dispose: () => runner.dispose(),
  };
}
