import type h5wasmNode from 'h5wasm/node';

/** h5wasm's Node build, as its default export gives it. */
export type H5wasm = typeof h5wasmNode;
/** The Emscripten module behind it (`h5wasm.ready`). */
export type H5Module = Awaited<H5wasm['ready']>;

let loading: Promise<H5wasm> | undefined;

/**
 * h5wasm, loaded on first use. Importing it instantiates its WebAssembly (~0.3 s of CPU), which
 * every CLI command paid at start although only writers and readers of files need it.
 */
export const loadH5wasm = (): Promise<H5wasm> =>
  (loading ??= import('h5wasm/node').then(async (m) => {
    await m.default.ready;
    return m.default;
  }));
