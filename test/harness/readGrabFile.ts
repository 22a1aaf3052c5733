import h5wasm from 'h5wasm/node';
import { grabAttrs, grabDatasets, unescapeParameterName } from '../../adapters/hdf5/grabFileLayout.js';

export interface GrabFileSeries {
  readonly times: Float64Array;
  readonly values: Float64Array;
  readonly units: string | undefined;
}

export interface GrabFileContents {
  /** Root attributes by name. */
  readonly attributes: Record<string, unknown>;
  /** Every parameter group, by parameter name. */
  readonly series: Map<string, GrabFileSeries>;
}

/** Reads a grab run's HDF5 file back whole (tests only: small files). */
export const readGrabFile = async (path: string): Promise<GrabFileContents> => {
  await h5wasm.ready;
  const file = new h5wasm.File(path, 'r');
  try {
    const attributes = Object.fromEntries(Object.entries(file.attrs).map(([k, a]) => [k, a.value]));
    const series = new Map<string, GrabFileSeries>();
    for (const link of file.keys()) {
      const group = file.get(link);
      if (!(group instanceof h5wasm.Group)) continue;
      const time = group.get(grabDatasets.time.name);
      const value = group.get(grabDatasets.value.name);
      if (!(time instanceof h5wasm.Dataset) || !(value instanceof h5wasm.Dataset)) continue;
      series.set(unescapeParameterName(link), {
        times: Float64Array.from(time.value as Float64Array),
        values: Float64Array.from(value.value as Float64Array),
        units: value.attrs[grabAttrs.units]?.value as string | undefined,
      });
    }
    return { attributes, series };
  } finally {
    file.close();
  }
};
