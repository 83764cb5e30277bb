/** `HwInventory` (§5.5) on `inventory.<pc_id>.hw`. */
import { arrayOf, decodeJson, field, nonEmptyString, record, refine, string, unsigned, type Decoded, type Decoder } from './decode.js';
import { rfc3339 } from './time.js';

export interface HwDisk {
  readonly device_id: string;
  readonly size_bytes: number;
  readonly free_bytes: number;
  readonly file_system: string;
}

export interface HwInventory {
  readonly pc_id: string;
  readonly collected_at: string;
  readonly hostname: string;
  readonly os_name: string;
  readonly os_version: string;
  readonly os_build: string;
  readonly cpu_model: string;
  readonly cpu_cores: number;
  readonly ram_bytes: number;
  readonly disks: readonly HwDisk[];
}

const positive = refine(unsigned, (n) => n > 0, 'expected a positive integer');

const hwDisk: Decoder<HwDisk> = (value, path) => {
  const obj = record(value, path);
  return {
    device_id: field(obj, 'device_id', string, path),
    size_bytes: field(obj, 'size_bytes', unsigned, path),
    free_bytes: field(obj, 'free_bytes', unsigned, path),
    file_system: field(obj, 'file_system', string, path),
  };
};

export const hwInventory: Decoder<HwInventory> = (value, path) => {
  const obj = record(value, path);
  return {
    pc_id: field(obj, 'pc_id', string, path),
    collected_at: field(obj, 'collected_at', rfc3339, path),
    hostname: field(obj, 'hostname', nonEmptyString, path),
    os_name: field(obj, 'os_name', nonEmptyString, path),
    os_version: field(obj, 'os_version', string, path),
    os_build: field(obj, 'os_build', string, path),
    cpu_model: field(obj, 'cpu_model', string, path),
    cpu_cores: field(obj, 'cpu_cores', positive, path),
    ram_bytes: field(obj, 'ram_bytes', positive, path),
    disks: field(obj, 'disks', arrayOf(hwDisk), path),
  };
};

export function decodeHwInventory(bytes: Uint8Array | string): Decoded<HwInventory> {
  return decodeJson(hwInventory, bytes);
}

/** The wire form, in contract field order. */
export function encodeHwInventory(h: HwInventory): string {
  return JSON.stringify({
    pc_id: h.pc_id,
    collected_at: h.collected_at,
    hostname: h.hostname,
    os_name: h.os_name,
    os_version: h.os_version,
    os_build: h.os_build,
    cpu_model: h.cpu_model,
    cpu_cores: h.cpu_cores,
    ram_bytes: h.ram_bytes,
    disks: h.disks.map((d) => ({ device_id: d.device_id, size_bytes: d.size_bytes, free_bytes: d.free_bytes, file_system: d.file_system })),
  });
}
