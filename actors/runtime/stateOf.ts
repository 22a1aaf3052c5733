import type { AnyMachineSnapshot, StateValue } from 'xstate';

const flatten = (value: StateValue): string => {
  if (typeof value === 'string') return value;
  const entries = Object.entries(value);
  return entries
    .map(([key, child]) => (child && Object.keys(child).length ? `${key}.${flatten(child)}` : key))
    .join(',');
};

/** The actor's state as stored in events: the state's name, dotted for nested states, comma-separated for parallel ones. */
export const stateOf = (snapshot: AnyMachineSnapshot): string => flatten(snapshot.value);

/** True when the machine reached a final state: no further transitions. */
export const isFinal = (snapshot: AnyMachineSnapshot): boolean => snapshot.status === 'done';
