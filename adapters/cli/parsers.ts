import { InvalidArgumentError } from 'commander';

/** Option parsers shared by the commands: each refuses bad input with a message commander prints. */

export const wholeNumber = (value: string): number => {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError('a whole number of 0 or more');
  return Number(value);
};

export const positiveWholeNumber = (value: string): number => {
  const n = wholeNumber(value);
  if (n < 1) throw new InvalidArgumentError('a whole number of 1 or more');
  return n;
};

export const choice =
  <T extends string>(values: readonly T[]) =>
  (value: string): T => {
    if (!(values as readonly string[]).includes(value)) throw new InvalidArgumentError(`one of ${values.join(', ')}`);
    return value as T;
  };

/** A comma-separated list; repeating the option adds to it. */
export const commaList = (value: string, previous: string[] = []): string[] => [
  ...previous,
  ...value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

/** A whole number of 1 or more, kept as the text given (the commands convert it). */
export const positiveIntText = (value: string): string => {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('a whole number of 1 or more');
  return value;
};

/** A whole number of 0 or more, kept as the text given. */
export const nonNegativeIntText = (value: string): string => {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('a whole number of 0 or more');
  return value;
};
