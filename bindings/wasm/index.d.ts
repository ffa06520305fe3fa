// Types of the unmeta WebAssembly package: the Node binding's API
// (bindings/node/index.d.ts) for Blobs, in browsers, Web Workers and Node.

/** A Blob or File (read piece by piece), or bytes; in Node also a path or a file: URL (read with fs.readSync). */
export type Input = Blob | Uint8Array | string | URL;
export type Category = 'location' | 'device' | 'time' | 'people' | 'software' | 'embedded' | 'other';
export type Action = 'keep' | 'remove' | 'rewrite';

export interface Limits {
  maxBlockSize?: number;
  maxDepth?: number;
  maxItems?: number;
  maxMemory?: number;
  spoolLimit?: number;
  maxInflate?: number;
  maxSpool?: number;
  maxGrowth?: number;
}

export interface Options {
  /** 'keep' (default): the ICC profile stays with its identifying fields neutralised; 'strip' removes it. */
  icc?: 'keep' | 'strip';
  /** Rotate losslessly instead of keeping a minimal Orientation tag. */
  applyOrientation?: boolean;
  /** Keep HEIF depth maps (mattes still go). */
  keepDepth?: boolean;
  /** Keep a motion photo's video, cleaned as an MP4. */
  keepMotion?: boolean;
  limits?: Limits;
  /** Called about every MiB with bytes of the input done and its size; return false to cancel. */
  onProgress?: (done: number, total: number) => boolean | void;
}

export interface Block {
  kind: string;
  offset: number;
  size: number;
  action: Action;
}

export interface Finding {
  category: Category;
  name: string;
  value: string;
  block: number;
  offset: number;
  size: number;
}

/** docs/json.md */
export interface Report {
  format: string;
  dirty: boolean;
  blocks: Block[];
  findings: Finding[];
  notes: string[];
}

/** The input without its metadata, as a Blob (of parts: the output is never one big buffer). */
export function strip(input: Input, options?: Options): Promise<Blob>;
export function stripWithReport(input: Input, options?: Options): Promise<{ data: Blob; report: Report }>;
/** Node only: strips a file into another in constant memory (written beside it, renamed on success). */
export function stripFile(inPath: string, outPath: string, options?: Options): Promise<Report>;
export function inspect(input: Input, options?: Options): Promise<Report>;
export function check(input: Input, options?: Options): Promise<boolean>;

/** Resolves once the module is loaded (formats(), libraryVersion() and strerror() need it in Node). */
export function ready(): Promise<void>;
export function formats(): string[];
export function libraryVersion(): string;
export function strerror(code: number): string;

export class UnmetaError extends Error {
  /** The ABI's UNMETA_E_* number (negative). */
  code: number;
}
export class InvalidArgumentError extends UnmetaError {}
export class OutOfMemoryError extends UnmetaError {}
export class InputOutputError extends UnmetaError {}
export class UnsupportedError extends UnmetaError {}
export class MalformedError extends UnmetaError {}
export class TruncatedError extends UnmetaError {}
export class LimitError extends UnmetaError {}
export class StateError extends UnmetaError {}
export class CanceledError extends UnmetaError {}
/** Thrown for the files native builds remux with FFmpeg (Matroska, AVI, audio): not supported in this build. */
export class FeatureError extends UnmetaError {}
export class ExpiredError extends UnmetaError {}
export class CryptoError extends UnmetaError {}
export class NoKeyError extends UnmetaError {}
