// Money without float drift: prices are parsed from decimal strings ("21.50",
// $/node-hour) into integer micro-dollars, added and multiplied as integers,
// and formatted back to strings with at least two decimals.

/** US dollars in millionths; a branded integer so it is never mixed with a plain count. */
export type Micros = number & { readonly __brand: "Micros" };

const MICROS_PER_DOLLAR = 1_000_000;
const DECIMAL = /^(\d{1,9})(?:\.(\d{1,6}))?$/;

/** The result of parsing a price: the amount, or why the text is not one. */
export type PriceParse =
  | { readonly ok: true; readonly value: Micros }
  | { readonly ok: false; readonly reason: string };

/** Parses a non-negative decimal string with up to 6 decimals ("21.5", "393.28"). */
export function parsePrice(text: string): PriceParse {
  const match = DECIMAL.exec(text.trim());
  if (!match) {
    return { ok: false, reason: `"${text}" is not a price: write dollars as a decimal string like "21.50"` };
  }
  const whole = Number(match[1]);
  const fraction = Number((match[2] ?? "").padEnd(6, "0"));
  return { ok: true, value: micros(whole * MICROS_PER_DOLLAR + fraction) };
}

/** Parses a price or throws an error that names `field`. */
export function priceOrThrow(text: string, field: string): Micros {
  const parsed = parsePrice(text);
  if (!parsed.ok) throw new Error(`${field}: ${parsed.reason}`);
  return parsed.value;
}

export function micros(value: number): Micros {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new Error(`${value} is not a whole, non-negative micro-dollar amount`);
  return value as Micros;
}

/** `price` times a whole count (a node-hour price times the nodes of a job). */
export function times(price: Micros, count: number): Micros {
  return micros(price * count);
}

/** Formats micro-dollars as "21.50": two decimals, more only when needed ("0.125"). */
export function formatPrice(value: Micros): string {
  const whole = Math.floor(value / MICROS_PER_DOLLAR);
  const fraction = String(value % MICROS_PER_DOLLAR)
    .padStart(6, "0")
    .replace(/0+$/, "")
    .padEnd(2, "0");
  return `${whole}.${fraction}`;
}
