/**
 * Client addresses kept per key, the most recently seen: the data plane prunes to it and the
 * addresses endpoint reads at most it (CONTRACT: "at most 100 entries per key"). One value for
 * both, since two writers can briefly leave a key one row over and the read's limit is then
 * what keeps the promise.
 */
export const MAX_ADDRESSES_PER_KEY = 100;
